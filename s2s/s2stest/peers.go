package s2stest

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/testkit"
)

// Python is Debian's interpreter, which has python3-slixmpp; the python3
// first on PATH may be another one without it.
const Python = "/usr/bin/python3"

// slixClient drives a user of another server (see the script's header).
//
//go:embed slix_client.py
var slixClient []byte

// PeerConfig describes a private XMPP server (Prosody, ejabberd) for a
// test.
type PeerConfig struct {
	Domain string
	// Hosts maps the domains the server must reach to their IP
	// addresses (a hosts file for its resolver: port 5269 is implied).
	Hosts map[string]string
	// Cert and CAFile give it TLS; without them it has none.
	Cert   *Cert
	CAFile string
	// Users are its accounts and their passwords.
	Users map[string]string
	// DNS is the test's DNS server, for servers that resolve only with
	// DNS.
	DNS *DNS
}

// Remote is another XMPP server running for a test.
type Remote struct {
	Domain  string
	Proc    *testkit.Process
	S2SAddr string // ip:5269
	C2SAddr string
	// ExternalLog and DialbackLog start the lines the server logs when it
	// accepts our authentication by SASL EXTERNAL or by dialback.
	ExternalLog, DialbackLog string
}

// StartProsody runs Prosody in the foreground with a configuration of
// the test's, listening on a loopback address of its own.
func StartProsody(t testing.TB, cfg PeerConfig) *Remote {
	t.Helper()
	bin, err := exec.LookPath("prosody")
	if err != nil {
		t.Fatalf("prosody not found (install the prosody package): %v", err)
	}
	dir := t.TempDir()
	s2sAddr := FreeLoopback(t)
	ip, _, _ := net.SplitHostPort(s2sAddr)
	c2sPort := testkit.FreePort(t)
	p := &Remote{Domain: cfg.Domain, S2SAddr: s2sAddr, C2SAddr: net.JoinHostPort(ip, fmt.Sprint(c2sPort)),
		ExternalLog: "Accepting SASL EXTERNAL identity from", DialbackLog: "Incoming s2s connection"}

	var hosts strings.Builder
	for domain, addr := range cfg.Hosts {
		fmt.Fprintf(&hosts, "%s %s\n", addr, domain)
	}
	hostsFile := filepath.Join(dir, "hosts")
	WriteFile(t, hostsFile, hosts.String())

	// Accounts of internal_plain: data/<host, escaped>/accounts/<user>.dat.
	accounts := filepath.Join(dir, "data", strings.ReplaceAll(strings.ReplaceAll(cfg.Domain, ".", "%2e"), "-", "%2d"), "accounts")
	if err := os.MkdirAll(accounts, 0o755); err != nil {
		t.Fatal(err)
	}
	for user, password := range cfg.Users {
		WriteFile(t, filepath.Join(accounts, user+".dat"), fmt.Sprintf("return {\n\t[\"password\"] = %q;\n};\n", password))
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
	WriteFile(t, confFile, conf)
	p.Proc = testkit.StartProcess(t, "prosody", bin, []string{"-F", "--config", confFile}, nil)
	testkit.WaitDial(t, p.C2SAddr, Timeout)
	testkit.WaitDial(t, p.S2SAddr, Timeout)
	return p
}

// WriteFile writes a file of a test or fails it.
func WriteFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// User is a user of another server, driven through slixmpp.
type User struct {
	proc    *testkit.Process
	control net.Conn
}

// StartUser logs jid in at server (host:port) with slixmpp.
func StartUser(t testing.TB, jid, password, server string) *User {
	t.Helper()
	if out, err := exec.Command(Python, "-c", "import slixmpp").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import slixmpp (install python3-slixmpp): %v\n%s", Python, err, out)
	}
	script := filepath.Join(t.TempDir(), "slix_client.py")
	WriteFile(t, script, string(slixClient))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	u := &User{proc: testkit.StartProcess(t, "slixmpp:"+jid, Python,
		[]string{script, jid, password, server, ln.Addr().String()}, nil)}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	u.proc.WaitOutput("ready", Timeout)
	u.control = <-accepted
	if u.control == nil {
		t.Fatal("the slixmpp client did not connect to its control socket")
	}
	t.Cleanup(func() { u.control.Close() })
	return u
}

// Send makes the user send a stanza.
func (u *User) Send(t testing.TB, stanza string) {
	t.Helper()
	if _, err := fmt.Fprintln(u.control, stanza); err != nil {
		t.Fatal(err)
	}
}

// Expect waits until the user received a stanza containing every one of
// substrs (slixmpp writes attributes with double quotes).
func (u *User) Expect(t testing.TB, substrs ...string) string {
	t.Helper()
	var found string
	testkit.Eventually(t, Timeout, fmt.Sprintf("%s receives %q", u.proc.Name(), substrs), func() bool {
		for _, line := range strings.Split(u.proc.Output(), "\n") {
			if rest, ok := strings.CutPrefix(line, "recv "); ok && ContainsAll(rest, substrs) {
				found = rest
				return true
			}
		}
		return false
	})
	return found
}
