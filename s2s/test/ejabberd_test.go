package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/s2s/s2stest"
)

// startEjabberd runs a private ejabberd node in the foreground with a
// configuration of the test's: its own Erlang node name and distribution
// port (no epmd, so nothing touches the system's Erlang nodes), spool
// and logs in a temporary directory, listeners on a loopback address of
// its own, and a resolver file (inetrc) mapping the domains it must
// reach. Accounts are registered with ejabberdctl.
func startEjabberd(t testing.TB, cfg s2stest.PeerConfig) *s2stest.Remote {
	t.Helper()
	ctl, err := exec.LookPath("ejabberdctl")
	if err != nil {
		t.Fatalf("ejabberdctl not found (install the ejabberd package): %v", err)
	}
	if u, err := user.Current(); err != nil || u.Uid != "0" && u.Username != "ejabberd" {
		t.Fatalf("ejabberdctl runs only as root or as the ejabberd user; these tests run as %v (%v)", u, err)
	}
	dir := t.TempDir()
	for _, d := range []string{"spool", "logs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s2sAddr := s2stest.FreeLoopback(t)
	ip, _, _ := net.SplitHostPort(s2sAddr)
	c2sPort := testkit.FreePort(t)
	srv := &s2stest.Remote{Domain: cfg.Domain, S2SAddr: s2sAddr, C2SAddr: net.JoinHostPort(ip, fmt.Sprint(c2sPort)),
		ExternalLog: "Accepted inbound s2s EXTERNAL authentication", DialbackLog: "Accepted inbound s2s dialback authentication"}

	// ejabberd looks s2s peers up with SRV records from DNS, never in a
	// hosts file: it asks the test's DNS server (and resolves the SRV
	// target with the system's resolver, so the test gives an address).
	if cfg.DNS == nil {
		t.Fatal("ejabberd needs the test's DNS server")
	}
	// localhost stays in a hosts entry: the Erlang node names use it.
	// The system's resolv.conf is left out, or its servers answer first.
	s2stest.WriteFile(t, filepath.Join(dir, "inetrc"), fmt.Sprintf("{lookup,[file,dns]}.\n{resolv_conf,\"\"}.\n{host,{127,0,0,1},[\"localhost\"]}.\n{nameserver,{127,0,0,1},%d}.\n", cfg.DNS.Port()))

	tlsConfig := "s2s_use_starttls: false\n"
	if cfg.Cert != nil {
		tlsConfig = fmt.Sprintf("s2s_use_starttls: required\ncertfiles:\n  - %q\n  - %q\nca_file: %q\n", cfg.Cert.CertFile, cfg.Cert.KeyFile, cfg.CAFile)
	}
	conf := fmt.Sprintf(`# Written by the s2s federation test.
hosts:
  - %q
loglevel: debug
log_rotate_count: 0
listen:
  -
    port: %d
    ip: %q
    module: ejabberd_c2s
    starttls: false
  -
    port: 5269
    ip: %q
    module: ejabberd_s2s_in
%s
s2s_access: all
s2s_dns_timeout: 2
s2s_dns_retries: 1
auth_method: [internal]
auth_password_format: plain
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  s2s:
    allow: all
shaper_rules:
  c2s_shaper: none
  s2s_shaper: none
modules:
  mod_s2s_dialback: {}
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
`, cfg.Domain, c2sPort, ip, ip, tlsConfig)
	s2stest.WriteFile(t, filepath.Join(dir, "ejabberd.yml"), conf)
	node := fmt.Sprintf("s2stest%d@localhost", testkit.FreePort(t))
	s2stest.WriteFile(t, filepath.Join(dir, "ejabberdctl.cfg"), fmt.Sprintf(
		"ERLANG_NODE=%s\nERL_DIST_PORT=%d\nINET_DIST_INTERFACE=127.0.0.1\n# The test runs it as its own user.\nEXEC_CMD=as_current_user\n",
		node, testkit.FreePort(t)))
	args := []string{"--config-dir", dir, "--config", filepath.Join(dir, "ejabberd.yml"),
		"--ctl-config", filepath.Join(dir, "ejabberdctl.cfg"), "--logs", filepath.Join(dir, "logs"), "--spool", filepath.Join(dir, "spool")}
	srv.Proc = testkit.StartProcess(t, "ejabberd", ctl, append(args, "foreground"), nil)
	testkit.WaitDial(t, srv.C2SAddr, s2stest.Timeout)
	testkit.WaitDial(t, srv.S2SAddr, s2stest.Timeout)
	for user, password := range cfg.Users {
		if out, err := exec.Command(ctl, append(args, "register", user, cfg.Domain, password)...).CombinedOutput(); err != nil {
			t.Fatalf("ejabberdctl register %s: %v\n%s", user, err, out)
		}
	}
	return srv
}
