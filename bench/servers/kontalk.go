package servers

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kontalk/xmppd/bench/load"
	"github.com/kontalk/xmppd/pkg/devnet"
	"github.com/kontalk/xmppd/pkg/procstat"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// KontalkOptions say how to start our network.
type KontalkOptions struct {
	BinDir     string // holds devrun and the component binaries
	PortOffset int    // devrun's -port-offset
	Profiling  bool   // components serve /debug/pprof/ on their admin addresses
}

// Kontalk is our network, started by bin/devrun in a temporary var
// directory.
type Kontalk struct {
	dir     string
	proc    *process
	net     *devnet.Network
	version string
	offset  int
}

// StartKontalk starts the network and waits until every component is
// ready.
func StartKontalk(ctx context.Context, o KontalkOptions) (*Kontalk, error) {
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-kontalk-")
	if err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	// devrun passes its environment on to the components. Every client
	// of the benchmark comes from 127.0.0.1: lift c2s's per-address limit.
	env := []string{"KONTALK_MAX_CONNS_PER_IP=1000000"}
	if o.Profiling {
		env = append(env, "KONTALK_PPROF=true") // devrun passes its environment on
	}
	p, err := startProcess(dir, "devrun", env, filepath.Join(bin, "devrun"),
		"-var", filepath.Join(dir, "var"), "-bin", bin, "-network", Domain, "-host", "node1."+Domain,
		"-listen", "127.0.0.1", "-port-offset", fmt.Sprint(o.PortOffset))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	k := &Kontalk{dir: dir, proc: p, offset: o.PortOffset}
	varDir := filepath.Join(dir, "var")
	err = p.waitFor(ctx, 2*time.Minute, func() error {
		_, err := os.Stat(filepath.Join(varDir, devnet.EnvFile))
		return err
	})
	if err == nil {
		k.net, err = devnet.Open(varDir)
	}
	if err != nil {
		k.Stop()
		return nil, fmt.Errorf("servers: %w", err)
	}
	out, _ := exec.Command("git", "-C", bin, "describe", "--always", "--dirty").Output()
	k.version = "xmppd " + strings.TrimSpace(string(out)) + " (" + runtime.Version() + ")"
	return k, nil
}

// Name implements Server.
func (k *Kontalk) Name() string { return "kontalk" }

// Version implements Server.
func (k *Kontalk) Version() string { return k.version }

// AdminAddr is the admin address of the i-th component in devrun's order
// (0 router, 1 resolver, 2 sm, 3 c2s, 4 s2s, 5 upload).
func (k *Kontalk) AdminAddr(i int) string {
	return fmt.Sprintf("127.0.0.1:%d", 9340+i+k.offset)
}

// PIDs implements Server: devrun's children (Redis and the components),
// not devrun itself, which only supervises.
func (k *Kontalk) PIDs() []int { return procstat.Descendants(k.proc.cmd.Process.Pid)[1:] }

// Accounts implements Server: identities with ECDSA keys (cheap to make
// and to sign handshakes with, so the load generator leaves more CPU to
// the server) certified by the network's server key, logging in with
// SASL EXTERNAL and their bridge certificates, as Kontalk clients do.
func (k *Kontalk) Accounts(ctx context.Context, n int) ([]load.Account, error) {
	accounts := make([]load.Account, n)
	base := clientTLS(&tls.Config{RootCAs: k.net.Roots})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id, err := clienttest.New(Domain, clienttest.Options{Certifier: k.net.ServerKey, ECDSA: true, Phone: fmt.Sprintf("+1555%07d", i)})
				if err != nil {
					mu.Lock()
					firstErr = firstErrOf(firstErr, err)
					mu.Unlock()
					continue
				}
				t := base.Clone()
				t.Certificates = []tls.Certificate{id.Certificate}
				accounts[i] = load.Account{BareJID: id.JID, Config: xmppclient.Config{
					Addr: k.net.C2SAddr(), Domain: Domain, TLS: t}}
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, fmt.Errorf("servers: kontalk identities: %w", firstErr)
	}
	return accounts, nil
}

// firstErrOf keeps the first error of several.
func firstErrOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Stop implements Server.
func (k *Kontalk) Stop() {
	k.proc.stop(30 * time.Second)
	os.RemoveAll(k.dir)
}
