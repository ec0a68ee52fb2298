//go:build unix

package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// pipeDrainTimeout bounds the wait for the output pipes to close once
	// the process has exited and its group was killed; only a descendant
	// that left the group could still hold them.
	pipeDrainTimeout = 2 * time.Second
	// maxOutput bounds the output kept for searching; the oldest half is
	// dropped when it is reached. The test log gets every line.
	maxOutput = 8 << 20
	// maxLine bounds a line held while waiting for its newline.
	maxLine = 64 << 10
)

// Process is a process started by StartProcess. Its methods are called from
// the test's goroutine.
type Process struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	out  *output

	done    chan struct{} // closed once the process exited and its output was read
	exitErr error         // cmd.Wait's result, set before done is closed
}

// StartProcess starts bin with args. The process gets the test's
// environment plus env ("KEY=value" entries, which win over inherited
// ones). Every line it writes to stdout or stderr goes to the test log,
// prefixed with name, and is kept for Output and WaitOutput. When the test
// ends the process and its group are killed, if still running.
func StartProcess(t testing.TB, name, bin string, args, env []string) *Process {
	t.Helper()
	p := &Process{
		t:    t,
		name: name,
		out:  &output{t: t, name: name},
		done: make(chan struct{}),
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatalf("testkit: start %s: %v", name, err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		t.Fatalf("testkit: start %s: %v", name, err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	// Files, not writers, so that exec starts no copying goroutines whose
	// end is tied to every descendant closing the pipes.
	p.cmd.Stdout = stdoutW
	p.cmd.Stderr = stderrW
	p.cmd.SysProcAttr = sysProcAttr()
	err = p.cmd.Start()
	// The child holds its own copies of the write ends.
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdoutR.Close()
		stderrR.Close()
		t.Fatalf("testkit: start %s: %v", name, err)
	}

	var readers sync.WaitGroup
	for _, r := range []*os.File{stdoutR, stderrR} {
		readers.Go(func() { p.out.copyLines(r) })
	}
	go p.wait(&readers, stdoutR, stderrR)
	t.Cleanup(p.Kill)
	return p
}

// wait reaps the process, kills what is left of its group and collects the
// rest of its output.
func (p *Process) wait(readers *sync.WaitGroup, pipes ...*os.File) {
	err := p.cmd.Wait()
	// Nothing the process spawned may outlive it.
	killGroup(p.cmd.Process.Pid)
	readersDone := make(chan struct{})
	go func() {
		readers.Wait()
		close(readersDone)
	}()
	timer := time.NewTimer(pipeDrainTimeout)
	select {
	case <-readersDone:
	case <-timer.C:
		// Closing the read ends makes the readers' blocked Read return.
		for _, f := range pipes {
			f.Close()
		}
		<-readersDone
	}
	timer.Stop()
	p.exitErr = err
	close(p.done)
}

func killGroup(pgid int) {
	// ESRCH: the group is already gone, which is the goal.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Name returns the name the process was started with.
func (p *Process) Name() string { return p.name }

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited returns a channel closed once the process has exited and its
// output has been read.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Kill sends SIGKILL to the process and its group, unless it has exited, and
// waits for it to be gone. The test's cleanup calls it too.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	killGroup(p.cmd.Process.Pid)
	<-p.done
}

// Stop sends SIGTERM to the process (not its group: a process shuts its own
// parts down) and waits up to timeout for it to exit. If it does not, the
// test fails and the process is killed. Stop returns how it exited: nil for
// status 0, an *exec.ExitError otherwise.
func (p *Process) Stop(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitErr
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("testkit: SIGTERM %s: %v", p.name, err)
	}
	return p.Wait(timeout)
}

// Wait waits up to timeout for the process to exit by itself, and returns
// how it exited: nil for status 0, an *exec.ExitError otherwise. If it does
// not exit in time, the test fails and the process is killed.
func (p *Process) Wait(timeout time.Duration) error {
	p.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.exitErr
	case <-timer.C:
		p.t.Errorf("testkit: %s did not exit within %v; killing it", p.name, timeout)
		p.Kill()
		return p.exitErr
	}
}

// Output returns what the process wrote so far, stdout and stderr
// interleaved line by line (the oldest output is dropped past a few MiB).
func (p *Process) Output() string { return p.out.String() }

// WaitOutput polls the output until it contains substr, and fails the test
// if it does not within timeout or if the process exits first.
func (p *Process) WaitOutput(substr string, timeout time.Duration) {
	p.t.Helper()
	exited := false
	poll(timeout, func() bool {
		select {
		case <-p.done:
			exited = true
		default:
		}
		// done is read first: output written before the exit is all in.
		return exited || strings.Contains(p.out.String(), substr)
	})
	if strings.Contains(p.out.String(), substr) {
		return
	}
	state := "still running"
	if exited {
		state = "exited: " + exitString(p.exitErr)
	}
	p.t.Fatalf("testkit: %s did not write %q within %v (%s)", p.name, substr, timeout, state)
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// output collects a process's lines into the test log and a bounded buffer.
type output struct {
	t    testing.TB
	name string

	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) copyLines(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	sc.Split(scanLinesBounded)
	for sc.Scan() {
		o.add(sc.Text())
	}
	// A read error means the pipe was closed under us after the process
	// exited; what was read is kept.
}

// scanLinesBounded splits at newlines, and hands out a line that reached
// maxLine without one, so that a process writing no newlines cannot stall
// the output.
func scanLinesBounded(data []byte, atEOF bool) (int, []byte, error) {
	advance, token, err := bufio.ScanLines(data, atEOF)
	if advance == 0 && token == nil && err == nil && len(data) >= maxLine {
		return maxLine, data[:maxLine], nil
	}
	return advance, token, err
}

func (o *output) add(line string) {
	o.t.Logf("%s: %s", o.name, line)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len()+len(line)+1 > maxOutput {
		// Drop the older half, up to a line boundary.
		o.buf.Next(o.buf.Len() / 2)
		if i := bytes.IndexByte(o.buf.Bytes(), '\n'); i >= 0 {
			o.buf.Next(i + 1)
		}
	}
	o.buf.WriteString(line)
	o.buf.WriteByte('\n')
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
