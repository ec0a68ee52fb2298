// Package servers starts XMPP servers for the load harness on this
// machine, each in its own temporary directory, listening on loopback
// only: our network (through tools/devrun, as `make run` starts it),
// Prosody and ejabberd (as ordinary processes with their own
// configuration, not the system instances).
package servers

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/kontalk/xmppd/bench/load"
	"github.com/kontalk/xmppd/pkg/procstat"
)

// Server is a running server under test.
type Server interface {
	// Name is the server's short name, Version its software version.
	Name() string
	Version() string
	// Accounts prepares n accounts that can log in.
	Accounts(ctx context.Context, n int) ([]load.Account, error)
	// PIDs are the server's processes, whose memory is measured.
	PIDs() []int
	// Stop ends the server and removes its files.
	Stop()
}

// Domain is the XMPP domain every server serves.
const Domain = "bench.test"

// clientTLS is what clients of every server use: no post-quantum key
// exchange (as today's mobile clients), so servers are compared on the
// same handshake.
func clientTLS(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.CurvePreferences = []tls.CurveID{tls.X25519}
	return c
}

// process is a started server process whose output goes to a log file.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startProcess(dir, name string, env []string, bin string, args ...string) (*process, error) {
	logFile := dir + "/" + name + ".log"
	f, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("servers: start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group and every process below the
// process (a wrapper may start its server in another group), and kills
// them all once timeout has passed.
func (p *process) stop(timeout time.Duration) {
	pids := procstat.Descendants(p.cmd.Process.Pid)
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for procstat.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	for _, pid := range pids {
		if procstat.Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	<-p.done
}

// waitFor polls ready every 100 ms until it returns nil, the process
// exits or timeout passes.
func (p *process) waitFor(ctx context.Context, timeout time.Duration, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("servers: %s exited: %s", p.cmd.Path, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("servers: %s not ready: %v; log: %s", p.cmd.Path, err, p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the end of the process's log.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// packageVersion is a Debian package's version.
func packageVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "unknown"
	}
	return pkg + " " + string(out)
}

// Options say how to start a server.
type Options struct {
	BinDir     string // our binaries (devrun and the components)
	PortOffset int    // added to the usual ports
	Profiling  bool   // our components serve /debug/pprof/
}

// Start starts the server named kontalk, prosody or ejabberd.
func Start(ctx context.Context, name string, o Options) (Server, error) {
	switch name {
	case "kontalk":
		return StartKontalk(ctx, KontalkOptions(o))
	case "prosody":
		return StartProsody(ctx, 5222+o.PortOffset)
	case "ejabberd":
		return StartEjabberd(ctx, 5222+o.PortOffset)
	}
	return nil, fmt.Errorf("servers: unknown server %q (kontalk, prosody or ejabberd)", name)
}
