package systest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// docs/operations.md documents every flag of every process: a new flag
// without a line there fails here.
func TestOperationsDocListsEveryFlag(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	flagRE := regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`)
	for _, name := range []string{"router", "resolver", "sm", "c2s", "s2s", "upload"} {
		help, _ := exec.Command(bins[name], "-h").CombinedOutput()
		for _, m := range flagRE.FindAllStringSubmatch(string(help), -1) {
			f := "`-" + m[1]
			if !strings.Contains(string(doc), f+"`") && !strings.Contains(string(doc), f+" ") {
				t.Errorf("docs/operations.md does not document %s -%s", name, m[1])
			}
		}
	}
}
