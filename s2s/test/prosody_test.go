package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/s2s/s2stest"
)

// peerConfig describes a private XMPP server (Prosody, ejabberd) for a
// test.
type peerConfig struct {
	Domain string
	// Hosts maps the domains the server must reach to their IP
	// addresses (a hosts file for its resolver: port 5269 is implied).
	Hosts map[string]string
	// Cert and CAFile give it TLS; without them it has none.
	Cert   *s2stest.Cert
	CAFile string
	// Users are its accounts and their passwords.
	Users map[string]string
	// DNS is the test's DNS server, for servers that resolve only with
	// DNS.
	DNS *s2stest.DNS
}

// remoteServer is another XMPP server running for a test.
type remoteServer struct {
	domain  string
	proc    *testkit.Process
	S2SAddr string // ip:5269
	C2SAddr string
	// externalLog and dialbackLog start the lines the server logs when it
	// accepts our authentication by SASL EXTERNAL or by dialback.
	externalLog, dialbackLog string
}

// startProsody runs Prosody in the foreground with a configuration of
// the test's, listening on a loopback address of its own.
func startProsody(t *testing.T, cfg peerConfig) *remoteServer {
	t.Helper()
	bin, err := exec.LookPath("prosody")
	if err != nil {
		t.Fatalf("prosody not found (install the prosody package): %v", err)
	}
	dir := t.TempDir()
	s2sAddr := s2stest.FreeLoopback(t)
	ip, _, _ := net.SplitHostPort(s2sAddr)
	c2sPort := testkit.FreePort(t)
	p := &remoteServer{domain: cfg.Domain, S2SAddr: s2sAddr, C2SAddr: net.JoinHostPort(ip, fmt.Sprint(c2sPort)),
		externalLog: "Accepting SASL EXTERNAL identity from", dialbackLog: "Incoming s2s connection"}

	var hosts strings.Builder
	for domain, addr := range cfg.Hosts {
		fmt.Fprintf(&hosts, "%s %s\n", addr, domain)
	}
	hostsFile := filepath.Join(dir, "hosts")
	writeFile(t, hostsFile, hosts.String())

	// Accounts of internal_plain: data/<host, escaped>/accounts/<user>.dat.
	accounts := filepath.Join(dir, "data", strings.ReplaceAll(strings.ReplaceAll(cfg.Domain, ".", "%2e"), "-", "%2d"), "accounts")
	if err := os.MkdirAll(accounts, 0o755); err != nil {
		t.Fatal(err)
	}
	for user, password := range cfg.Users {
		writeFile(t, filepath.Join(accounts, user+".dat"), fmt.Sprintf("return {\n\t[\"password\"] = %q;\n};\n", password))
	}

	// Without a certificate Prosody still offers STARTTLS (and fails
	// it): leave its tls module out.
	tlsConfig := "s2s_require_encryption = false\n"
	modules := `"roster"; "saslauth"; "dialback"; "disco"; "ping"`
	hostSSL := ""
	if cfg.Cert != nil {
		modules += `; "tls"`
		tlsConfig = "s2s_require_encryption = true\n"
		hostSSL = fmt.Sprintf("\tssl = { certificate = %q; key = %q; cafile = %q; verify = { \"peer\", \"client_once\" }; verifyext = { \"lsec_continue\", \"lsec_ignore_purpose\" } }\n",
			cfg.Cert.CertFile, cfg.Cert.KeyFile, cfg.CAFile)
	}
	conf := fmt.Sprintf(`-- Written by the s2s federation test.
run_as_root = true
pidfile = %q
data_path = %q
log = { { levels = { min = "debug" }, to = "console" } }
modules_enabled = { %s }
modules_disabled = { "s2s_bidi" }
authentication = "internal_plain"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
c2s_ports = { %d }
c2s_interfaces = { %q }
s2s_ports = { 5269 }
s2s_interfaces = { %q }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
s2s_secure_auth = false
s2s_timeout = 10
unbound = { hoststxt = %q }
certificates = %q
%s
VirtualHost %q
%s`, filepath.Join(dir, "prosody.pid"), filepath.Join(dir, "data"), modules, c2sPort, ip, ip, hostsFile,
		filepath.Join(dir, "certs"), tlsConfig, cfg.Domain, hostSSL)
	confFile := filepath.Join(dir, "prosody.cfg.lua")
	writeFile(t, confFile, conf)
	p.proc = testkit.StartProcess(t, "prosody", bin, []string{"-F", "--config", confFile}, nil)
	testkit.WaitDial(t, p.C2SAddr, s2stest.Timeout)
	testkit.WaitDial(t, p.S2SAddr, s2stest.Timeout)
	return p
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// xmppUser is a user of another server, driven through slixmpp.
type xmppUser struct {
	proc    *testkit.Process
	control net.Conn
}

// startUser logs jid in at server (host:port) with slixmpp.
func startUser(t *testing.T, jid, password, server string) *xmppUser {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import slixmpp").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import slixmpp (install python3-slixmpp): %v\n%s", python, err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	u := &xmppUser{proc: testkit.StartProcess(t, "slixmpp:"+jid, python,
		[]string{"testdata/slix_client.py", jid, password, server, ln.Addr().String()}, nil)}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	u.proc.WaitOutput("ready", s2stest.Timeout)
	u.control = <-accepted
	if u.control == nil {
		t.Fatal("the slixmpp client did not connect to its control socket")
	}
	t.Cleanup(func() { u.control.Close() })
	return u
}

// send makes the user send a stanza.
func (u *xmppUser) send(t *testing.T, stanza string) {
	t.Helper()
	if _, err := fmt.Fprintln(u.control, stanza); err != nil {
		t.Fatal(err)
	}
}

// expect waits until the user received a stanza containing every one of
// substrs (slixmpp writes attributes with double quotes).
func (u *xmppUser) expect(t *testing.T, substrs ...string) string {
	t.Helper()
	var found string
	testkit.Eventually(t, s2stest.Timeout, fmt.Sprintf("%s receives %q", u.proc.Name(), substrs), func() bool {
		for _, line := range strings.Split(u.proc.Output(), "\n") {
			if rest, ok := strings.CutPrefix(line, "recv "); ok && containsAll(rest, substrs) {
				found = rest
				return true
			}
		}
		return false
	})
	return found
}

func containsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
