package servers

import (
	"context"
	"crypto/tls"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/kontalk/xmppd/bench/load"
	"github.com/kontalk/xmppd/pkg/procstat"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// Ejabberd is a private ejabberd instance.
type Ejabberd struct {
	dir  string
	addr string
	proc *process
	tls  *tls.Config
}

// StartEjabberd starts ejabberd (ejabberdctl foreground, as the ejabberd
// user) with its own configuration, spool and logs in a
// temporary directory and its own Erlang node and distribution port, so
// it needs no system instance: STARTTLS required with a throwaway
// certificate, plain-text password storage, in-band registration for the
// harness to create accounts, stream management and offline storage on,
// no traffic shapers, errors only in the log, loopback only.
func StartEjabberd(ctx context.Context, port int) (*Ejabberd, error) {
	dir, err := os.MkdirTemp("", "bench-ejabberd-")
	if err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	s := &Ejabberd{dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := s.start(ctx, port); err != nil {
		if s.proc != nil {
			s.proc.stop(15 * time.Second)
		}
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Ejabberd) start(ctx context.Context, port int) error {
	certFile, keyFile, pool, err := clienttest.WriteServerCertificate(s.dir, "tls", Domain)
	if err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	s.tls = clientTLS(&tls.Config{RootCAs: pool})
	// ejabberd wants the certificate and its key in one file.
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	pem := filepath.Join(s.dir, "tls-bundle.pem")
	config := fmt.Sprintf(`# Written by the load harness (bench/servers).
hosts:
  - %[1]q
loglevel: error
certfiles:
  - %[2]q
registration_timeout: infinity
auth_method: internal
auth_password_format: plain
listen:
  -
    port: %[3]d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    shaper: none
    max_stanza_size: 262144
shaper_rules:
  c2s_shaper: none
  max_user_sessions: 10
  max_user_offline_messages: 5000
access_rules:
  register:
    allow: all
modules:
  mod_disco: {}
  mod_offline: {}
  mod_ping: {}
  mod_register:
    access: register
  mod_roster: {}
  mod_stream_mgmt: {}
`, Domain, pem, port)
	ctl := fmt.Sprintf("ERLANG_NODE=ejabberd-bench%[1]d@localhost\nERL_DIST_PORT=%[2]d\nINET_DIST_INTERFACE=127.0.0.1\nERL_MAX_PORTS=65536\n",
		port, port+20000)
	for name, content := range map[string][]byte{
		pem: append(cert, key...), "ejabberd.yml": []byte(config), "ejabberdctl.cfg": []byte(ctl)} {
		if err := os.WriteFile(filepath.Join(s.dir, filepath.Base(name)), content, 0o600); err != nil {
			return fmt.Errorf("servers: %w", err)
		}
	}
	for _, d := range []string{"logs", "spool"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o700); err != nil {
			return fmt.Errorf("servers: %w", err)
		}
	}
	if err := chownTree(s.dir, "ejabberd"); err != nil {
		return err
	}
	// setpriv rather than ejabberdctl's own su: su puts the VM in another
	// process group and lowers its open-file limit to 1024.
	s.proc, err = startProcess(s.dir, "ejabberd", []string{"HOME=/var/lib/ejabberd"},
		"setpriv", "--reuid=ejabberd", "--regid=ejabberd", "--init-groups", "ejabberdctl",
		"--config-dir", s.dir, "--config", filepath.Join(s.dir, "ejabberd.yml"),
		"--ctl-config", filepath.Join(s.dir, "ejabberdctl.cfg"),
		"--logs", filepath.Join(s.dir, "logs"), "--spool", filepath.Join(s.dir, "spool"), "foreground")
	if err != nil {
		return err
	}
	return s.proc.waitFor(ctx, 90*time.Second, func() error { return dialable(s.addr) })
}

// chownTree gives dir and everything in it to the named user, whom
// ejabberdctl runs ejabberd as.
func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// Name implements Server.
func (s *Ejabberd) Name() string { return "ejabberd" }

// Version implements Server.
func (s *Ejabberd) Version() string { return packageVersion("ejabberd") }

// PIDs implements Server: the Erlang VM and the wrapper processes above
// it (a few hundred KiB that do not grow).
func (s *Ejabberd) PIDs() []int { return procstat.Descendants(s.proc.cmd.Process.Pid) }

// Accounts implements Server: users bench<i> with Password, registered
// in band (XEP-0077), several per unauthenticated stream, and logging in
// with SASL PLAIN over STARTTLS.
func (s *Ejabberd) Accounts(ctx context.Context, n int) ([]load.Account, error) {
	const perStream, streams = 200, 8
	accounts := make([]load.Account, n)
	for i := range accounts {
		accounts[i] = passwordAccount(s.addr, s.tls, fmt.Sprintf("bench%d", i))
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan []load.Account)
	)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range next {
				if err := s.register(ctx, batch); err != nil {
					mu.Lock()
					firstErr = firstErrOf(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i += perStream {
		next <- accounts[i:min(i+perStream, n)]
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return accounts, nil
}

func (s *Ejabberd) register(ctx context.Context, batch []load.Account) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := xmppclient.Dial(ctx, batch[0].Config)
	if err != nil {
		return fmt.Errorf("servers: ejabberd registration: %w", err)
	}
	defer c.Abort()
	for _, a := range batch {
		_, err := c.IQ(ctx, "set", "", "<query xmlns='jabber:iq:register'><username>"+a.Login.Username+
			"</username><password>"+Password+"</password></query>")
		if err != nil {
			return fmt.Errorf("servers: ejabberd registration of %s: %w", a.Login.Username, err)
		}
	}
	return nil
}

// Stop implements Server.
func (s *Ejabberd) Stop() {
	s.proc.stop(30 * time.Second)
	os.RemoveAll(s.dir)
}
