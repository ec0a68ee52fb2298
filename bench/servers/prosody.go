package servers

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kontalk/xmppd/bench/load"
	"github.com/kontalk/xmppd/pkg/procstat"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// Password is every benchmark account's password.
const Password = "bench-password"

// Prosody is a private Prosody instance.
type Prosody struct {
	dir  string
	addr string
	proc *process
	tls  *tls.Config
}

// StartProsody starts Prosody from /usr/bin/prosody with its own
// configuration: STARTTLS required with a throwaway certificate, plain
// text password storage (accounts are written as files), stream
// management and offline storage on, errors only in the log, loopback
// only.
func StartProsody(ctx context.Context, port int) (*Prosody, error) {
	dir, err := os.MkdirTemp("", "bench-prosody-")
	if err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	s := &Prosody{dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := s.start(ctx, port); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Prosody) start(ctx context.Context, port int) error {
	certFile, keyFile, pool, err := clienttest.WriteServerCertificate(s.dir, "tls", Domain)
	if err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	s.tls = clientTLS(&tls.Config{RootCAs: pool})
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	config := fmt.Sprintf(`-- Written by the load harness (bench/servers).
run_as_root = true
pidfile = %[1]q
data_path = %[2]q
log = { error = %[3]q }
network_backend = "epoll"
c2s_ports = { %[4]d }
c2s_interfaces = { "127.0.0.1" }
c2s_require_encryption = true
authentication = "internal_plain"
storage = "internal"
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "smacks", "offline" }
modules_disabled = { "s2s" }
ssl = { certificate = %[5]q, key = %[6]q }
VirtualHost %[7]q
`, filepath.Join(s.dir, "prosody.pid"), filepath.Join(s.dir, "data"), filepath.Join(s.dir, "error.log"),
		port, certFile, keyFile, Domain)
	cfgFile := filepath.Join(s.dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	if s.proc, err = startProcess(s.dir, "prosody", nil, "prosody", "-F", "--config", cfgFile); err != nil {
		return err
	}
	return s.proc.waitFor(ctx, 30*time.Second, func() error { return dialable(s.addr) })
}

func dialable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// Name implements Server.
func (s *Prosody) Name() string { return "prosody" }

// Version implements Server.
func (s *Prosody) Version() string { return packageVersion("prosody") }

// PIDs implements Server.
func (s *Prosody) PIDs() []int { return procstat.Descendants(s.proc.cmd.Process.Pid) }

// Accounts implements Server: users bench<i> with Password, written
// straight into Prosody's internal_plain store (one file per user under
// the escaped host name), logging in with SASL PLAIN over STARTTLS.
func (s *Prosody) Accounts(ctx context.Context, n int) ([]load.Account, error) {
	dir := filepath.Join(s.dir, "data", escapeStoreName(Domain), "accounts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	record := []byte(fmt.Sprintf("return {\n\t[\"password\"] = %q;\n};\n", Password))
	accounts := make([]load.Account, n)
	for i := range accounts {
		user := fmt.Sprintf("bench%d", i)
		if err := os.WriteFile(filepath.Join(dir, user+".dat"), record, 0o644); err != nil {
			return nil, fmt.Errorf("servers: %w", err)
		}
		accounts[i] = passwordAccount(s.addr, s.tls, user)
	}
	return accounts, ctx.Err()
}

func passwordAccount(addr string, t *tls.Config, user string) load.Account {
	return load.Account{
		BareJID: user + "@" + Domain,
		Config:  xmppclient.Config{Addr: addr, Domain: Domain, TLS: t},
		Login:   xmppclient.LoginOptions{Username: user, Password: Password},
	}
}

// escapeStoreName escapes a name the way Prosody's file store does: every
// byte but ASCII letters and digits as %xx.
func escapeStoreName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// Stop implements Server.
func (s *Prosody) Stop() {
	s.proc.stop(15 * time.Second)
	os.RemoveAll(s.dir)
}
