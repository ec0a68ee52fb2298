package systest

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeConfig returns the resolved compose configuration, with the
// cluster profile, from docker compose or docker-compose.
func composeConfig(t *testing.T) []byte {
	t.Helper()
	var cmd *exec.Cmd
	switch {
	case exec.Command("docker", "compose", "version").Run() == nil:
		cmd = exec.Command("docker", "compose", "--profile", "cluster", "config")
	case exec.Command("docker-compose", "version").Run() == nil:
		cmd = exec.Command("docker-compose", "--profile", "cluster", "config")
	default:
		t.Skip("no compose tool (docker compose or docker-compose) on this machine: .ci/run installs docker-compose")
	}
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s", cmd, err, stderr)
	}
	return out
}

// The compose file validates, and every KONTALK_* variable it sets is a
// flag of the component it is given to (a misspelt variable would be
// ignored silently), or the _FILE form of a secret flag.
func TestComposeFile(t *testing.T) {
	var cfg struct {
		Services map[string]struct {
			Build       struct{ Dockerfile string }
			Environment map[string]string
		}
	}
	if err := yaml.Unmarshal(composeConfig(t), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) < 12 {
		t.Fatalf("%d services", len(cfg.Services))
	}
	flagRE := regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`)
	for name, svc := range cfg.Services {
		component := strings.Split(svc.Build.Dockerfile, "/")[0]
		bin := bins[component]
		if bin == "" {
			continue // redis, init
		}
		help, _ := exec.Command(bin, "-h").CombinedOutput()
		var flags []string
		for _, m := range flagRE.FindAllStringSubmatch(string(help), -1) {
			flags = append(flags, m[1])
		}
		for env := range svc.Environment {
			if !strings.HasPrefix(env, "KONTALK_") {
				continue
			}
			flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "KONTALK_"), "_", "-"))
			if slices.Contains(flags, flag) {
				continue
			}
			if base, ok := strings.CutSuffix(flag, "-file"); ok && slices.Contains(flags, base) {
				continue
			}
			if slices.Contains([]string{"network", "host", "redis", "router"}, flag) {
				continue // shared by the service group; not every component has them
			}
			t.Errorf("service %s: %s is not a flag of %s", name, env, component)
		}
	}
}
