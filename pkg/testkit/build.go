package testkit

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// Build compiles the main package in pkgDir (relative to the working
// directory, normally the test's package directory) into outDir/name with
// `go build`, and returns the binary's absolute path. It is meant for
// TestMain, so that each binary is built once per test binary.
//
// The go command inherits the environment, so GOFLAGS (an -overlay, say)
// and the go.work workspace apply as they do to the test itself. When the
// test binary is built with -race, so are the binaries.
func Build(ctx context.Context, pkgDir, outDir, name string) (string, error) {
	out, err := filepath.Abs(filepath.Join(outDir, name))
	if err != nil {
		return "", fmt.Errorf("testkit: build %s: %w", name, err)
	}
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", out, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = pkgDir
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testkit: go build %s in %s: %w\n%s", name, pkgDir, err, output)
	}
	return out, nil
}
