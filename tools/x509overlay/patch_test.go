package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// installedParser returns the installed toolchain's crypto/x509 source.
func installedParser(t *testing.T) (parser []byte, files map[string][]byte, goroot string) {
	t.Helper()
	goroot, _, err := toolchain(t.Context(), "go")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(goroot, "src", "crypto", "x509")
	files, err = readPackageFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	return files["parser.go"], files, goroot
}

func TestPatchInstalledToolchain(t *testing.T) {
	src, files, _ := installedParser(t)
	patched, err := patchParser(src, files, "// trailer\n")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(patched, []byte(oidAnchor)) || !bytes.Contains(patched, []byte(oidReplacement)) {
		t.Error("the OID statement was not replaced")
	}
	// Everything before the appended helper keeps its line number.
	head := patched[:bytes.Index(patched, []byte(helperSource))]
	if got, want := bytes.Count(head, []byte("\n")), bytes.Count(src, []byte("\n")); got != want {
		t.Errorf("patched source has %d lines before the helper, the toolchain's %d", got, want)
	}
	if !bytes.HasSuffix(patched, []byte("// trailer\n")) {
		t.Error("trailer missing")
	}
}

// TestPatchRefusesChangedSource checks that each way the toolchain's source could move
// away from what the patch expects stops the generator. (A mutation that failed to apply
// would leave source the patch accepts, and fail the test too.)
func TestPatchRefusesChangedSource(t *testing.T) {
	src, files, _ := installedParser(t)
	s := string(src)
	tests := []struct {
		name  string
		src   string
		files map[string][]byte
	}{
		{"error text changed", strings.Replace(s, `"x509: malformed extension OID field"`, `"x509: invalid extension OID"`, 1), files},
		{"OID read changed", strings.Replace(s, "der.ReadASN1ObjectIdentifier(&ext.Id)", "der.ReadASN1OID(&ext.Id)", 1), files},
		{"parseExtension renamed", strings.Replace(s, "func parseExtension(", "func parseExtensionV2(", 1), files},
		{"statement twice", s + "\nfunc f(der cryptobyte.String, ext pkix.Extension) (pkix.Extension, error) {\n" + oidAnchor + "\treturn ext, nil\n}\n", files},
		{"statement outside parseExtension", strings.Replace(s, oidAnchor, "", 1) + "\nfunc f(der cryptobyte.String, ext pkix.Extension) (pkix.Extension, error) {\n" + oidAnchor + "\treturn ext, nil\n}\n", files},
		{"import renamed", strings.Replace(s, `cryptobyte_asn1 "golang.org/x/crypto/cryptobyte/asn1"`, `cbasn1 "golang.org/x/crypto/cryptobyte/asn1"`, 1), files},
		{"helper name taken", s, map[string][]byte{"oid.go": []byte("func kontalkMinimalOID() {}")}},
	}
	for _, tt := range tests {
		_, err := patchParser([]byte(tt.src), tt.files, "")
		if !errors.Is(err, errAnchor) {
			t.Errorf("%s: err = %v, want errAnchor", tt.name, err)
		}
	}
}

// TestRun generates an overlay the way the Makefile does and checks its files.
func TestRun(t *testing.T) {
	out := t.TempDir()
	overlayPath, err := run(t.Context(), "go", out, true)
	if err != nil {
		t.Fatal(err)
	}
	var overlay struct{ Replace map[string]string }
	raw, err := os.ReadFile(overlayPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &overlay); err != nil {
		t.Fatal(err)
	}
	_, _, goroot := installedParser(t)
	target := filepath.Join(goroot, "src", "crypto", "x509", "parser.go")
	if len(overlay.Replace) != 1 || overlay.Replace[target] != filepath.Join(out, "parser.go") {
		t.Errorf("overlay %s", raw)
	}
	before, err := os.Stat(overlay.Replace[target])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t.Context(), "go", out, false); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(overlay.Replace[target])
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("an unchanged patched file was rewritten")
	}
}

func TestRunRefusesSpaces(t *testing.T) {
	if _, err := run(t.Context(), "go", filepath.Join(t.TempDir(), "with space"), false); err == nil {
		t.Error("a directory GOFLAGS cannot carry was accepted")
	}
}

// TestRunFailsOnChangedToolchain runs the generator against a toolchain whose parser.go
// no longer has the statement, through a stand-in go command, and expects a failure that
// also removes the overlay.json of an earlier run.
func TestRunFailsOnChangedToolchain(t *testing.T) {
	src, files, _ := installedParser(t)
	goroot := t.TempDir()
	pkgDir := filepath.Join(goroot, "src", "crypto", "x509")
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(src, []byte("malformed extension OID field"), []byte("bad extension OID"), 1)
	for name, content := range files {
		if name == "parser.go" {
			content = changed
		}
		if err := os.WriteFile(filepath.Join(pkgDir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fakeGo := filepath.Join(t.TempDir(), "go")
	script := "#!/bin/sh\nprintf '%s\\n%s\\n' '" + goroot + "' go0.0-changed\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	stale := filepath.Join(out, "overlay.json")
	if err := os.WriteFile(stale, []byte(`{"Replace":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}

	_, err := run(t.Context(), fakeGo, out, true)
	if !errors.Is(err, errAnchor) || !strings.Contains(err.Error(), "go0.0-changed") {
		t.Errorf("err = %v, want errAnchor naming the Go version", err)
	}
	if _, statErr := os.Stat(stale); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("stale overlay.json left behind: %v", statErr)
	}
}
