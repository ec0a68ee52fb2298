//go:build unix

package testkit_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/testkit"
)

const timeout = 30 * time.Second

func sh(t testing.TB, script string) *testkit.Process {
	return testkit.StartProcess(t, "sh", "/bin/sh", []string{"-c", script}, []string{"KONTALK_TEST=yes"})
}

// gone reports whether pid no longer runs: it does not exist or is a zombie
// waiting for a parent (or a container's init) to reap it.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z")
}

func TestProcessOutputAndKill(t *testing.T) {
	p := sh(t, `echo "out $KONTALK_TEST"; echo err >&2; exec sleep 60`)
	p.WaitOutput("out yes", timeout)
	p.WaitOutput("err", timeout)
	if p.Name() != "sh" {
		t.Fatalf("Name = %q", p.Name())
	}
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill returned before the process exited")
	}
	var exitErr *exec.ExitError
	if err := p.Wait(timeout); !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("Wait = %v, want killed", err)
	}
	if out := p.Output(); out != "out yes\nerr\n" && out != "err\nout yes\n" {
		t.Fatalf("Output = %q", out)
	}
}

func TestProcessStop(t *testing.T) {
	p := sh(t, `trap 'echo bye; exit 0' TERM; echo ready; sleep 60 & wait`)
	p.WaitOutput("ready", timeout)
	if err := p.Stop(timeout); err != nil {
		t.Fatalf("Stop = %v, want clean exit", err)
	}
	if !strings.Contains(p.Output(), "bye") {
		t.Fatalf("Output = %q", p.Output())
	}
}

func TestProcessStopTimeout(t *testing.T) {
	var p *testkit.Process
	msg := failures(t, func(tb testing.TB) {
		p = testkit.StartProcess(tb, "stubborn", "/bin/sh", []string{"-c", `trap '' TERM; echo ready; sleep 60 & wait`}, nil)
		p.WaitOutput("ready", timeout)
		p.Stop(100 * time.Millisecond)
	})
	if !strings.Contains(msg, "stubborn did not exit within 100ms") {
		t.Fatalf("failure = %q", msg)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("process still runs after a failed Stop")
	}
}

func TestProcessExitStatus(t *testing.T) {
	p := sh(t, "exit 3")
	var exitErr *exec.ExitError
	if err := p.Wait(timeout); !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
	msg := failures(t, func(tb testing.TB) {
		testkit.StartProcess(tb, "quitter", "/bin/sh", []string{"-c", "echo bye"}, nil).WaitOutput("never", timeout)
	})
	if !strings.Contains(msg, `quitter did not write "never"`) || !strings.Contains(msg, "exited: exit status 0") {
		t.Fatalf("failure = %q", msg)
	}
}

// TestProcessGroupKilled checks that nothing a process spawned outlives it,
// whether it is killed or exits by itself.
func TestProcessGroupKilled(t *testing.T) {
	childPid := func(p *testkit.Process) int {
		p.WaitOutput("child ", timeout)
		out := p.Output()
		line := out[strings.Index(out, "child ")+len("child "):]
		pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(line, "\n", 2)[0]))
		if err != nil {
			t.Fatalf("child pid in %q: %v", out, err)
		}
		return pid
	}

	p := sh(t, `sleep 60 & echo "child $!"; wait`)
	pid := childPid(p)
	p.Kill()
	testkit.Eventually(t, timeout, "background child of a killed process gone", func() bool { return gone(pid) })

	p = sh(t, `sleep 60 & echo "child $!"`)
	pid = childPid(p)
	if err := p.Wait(timeout); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	testkit.Eventually(t, timeout, "background child of an exited process gone", func() bool { return gone(pid) })
}

// TestProcessEscapedDescendant checks that a descendant that left the
// process group and keeps the output pipes open does not hold the test up.
func TestProcessEscapedDescendant(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	p := sh(t, `setsid sh -c 'echo child $$; exec sleep 60' & wait`)
	p.WaitOutput("child ", timeout)
	out := p.Output()
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(out, "child ")))
	if err != nil {
		t.Fatalf("child pid in %q: %v", out, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	p.Kill() // returns once the output pipes are given up on
	if gone(pid) {
		t.Fatal("the escaped descendant was killed with the group; the test proves nothing")
	}
}

func TestStartProcessMissingBinary(t *testing.T) {
	msg := failures(t, func(tb testing.TB) {
		testkit.StartProcess(tb, "ghost", "/nonexistent/ghost", nil, nil)
	})
	if !strings.Contains(msg, "start ghost") {
		t.Fatalf("failure = %q", msg)
	}
}

func TestBuild(t *testing.T) {
	bin, err := testkit.Build(context.Background(), "testdata/hello", t.TempDir(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.StartProcess(t, "hello", bin, []string{"0"}, []string{"KONTALK_GREETING=world"})
	if err := p.Wait(timeout); err != nil {
		t.Fatalf("hello: %v", err)
	}
	if p.Output() != "hello world\n" {
		t.Fatalf("Output = %q", p.Output())
	}

	if _, err := testkit.Build(context.Background(), "testdata/nonexistent", t.TempDir(), "x"); err == nil {
		t.Fatal("Build of a missing package succeeded")
	}
}
