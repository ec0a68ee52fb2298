package test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/kontalk/xmppd/c2s/test/standin"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// fixtureDir holds the bridge certificates in the exact byte format of the
// Android and desktop clients (shared/testdata/kontalk-bridge).
const fixtureDir = "../../pkg/bridge/testdata"

// The real clients' certificates, in both subjectAltName forms, complete
// TLS 1.2 and 1.3 on both ports; as shipped (not certified by this
// server) SASL refuses them, and rebuilt around the certified key ring,
// as clients do after registering, they log in.
func TestFixtures(t *testing.T) {
	e := startEnv(t)
	for _, name := range []string{"android", "legacy"} {
		for _, std := range []bool{false, true} {
			shipped, err := clienttest.FixtureCertificate(fixtureDir, name, std)
			if err != nil {
				t.Fatal(err)
			}
			certified, err := clienttest.Fixture(fixtureDir, name, network, serverKey, std)
			if err != nil {
				t.Fatal(err)
			}
			for _, direct := range []bool{false, true} {
				for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
					label := fmt.Sprintf("%s/stdsan=%v/direct=%v/%s", name, std, direct, tls.VersionName(version))
					t.Run(label, func(t *testing.T) {
						cfg := e.config(&shipped, direct)
						cfg.TLS.MinVersion, cfg.TLS.MaxVersion = version, version
						c, err := xmppclient.Dial(ctxT(t), cfg)
						if err != nil {
							t.Fatal(err)
						}
						defer c.Abort()
						var se *xmppclient.SASLError
						if err := c.AuthExternal(ctxT(t), "="); !errors.As(err, &se) || !strings.Contains(se.Text, "not certified") {
							t.Errorf("uncertified fixture: %v", err)
						}

						cfg = e.config(&certified.Certificate, direct)
						cfg.TLS.MinVersion, cfg.TLS.MaxVersion = version, version
						c2, err := xmppclient.Login(ctxT(t), cfg, xmppclient.LoginOptions{StreamManagement: true})
						if err != nil {
							t.Fatal(err)
						}
						defer c2.Abort()
						if !strings.HasPrefix(c2.JID(), certified.JID+"/") {
							t.Errorf("bound %s, want %s", c2.JID(), certified.JID)
						}
					})
				}
			}
		}
	}
}

// SIGTERM closes every client stream with system-shutdown and ends every
// session at sm before c2s exits.
func TestShutdown(t *testing.T) {
	e := startEnv(t)
	var clients []*xmppclient.Client
	for range 3 {
		clients = append(clients, e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{StreamManagement: true}))
	}
	if err := e.c2s.Stop(timeout); err != nil {
		t.Fatalf("c2s exit: %v", err)
	}
	for _, c := range clients {
		if cond, _ := expectStreamError(t, c); cond != string(stream.SystemShutdown) {
			t.Errorf("client closed with %s", cond)
		}
	}
	for _, c := range clients {
		jid := c.JID()
		testkit.Eventually(t, timeout, "session of "+jid+" ended", func() bool {
			_, open := e.sm.SessionByJID(jid)
			return !open
		})
	}
}

// A c2s built without the x509 overlay refuses to start, saying why.
func TestRequiresOverlay(t *testing.T) {
	var flags []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if !strings.HasPrefix(f, "-overlay") {
			flags = append(flags, f)
		}
	}
	t.Setenv("GOFLAGS", strings.Join(flags, " "))
	bin, err := testkit.Build(t.Context(), "..", t.TempDir(), "c2s-plain")
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.StartProcess(t, "c2s-plain", bin, []string{"-name", "c2s-1." + host, "-host", host, "-network", network,
		"-tls-cert", "x", "-tls-key", "y", "-server-key", serverKeyFile, "-listen", "127.0.0.1:0", "-listen-tls", "127.0.0.1:0", "-admin", "127.0.0.1:0"},
		[]string{"KONTALK_SECRET=" + secret})
	err = p.Wait(timeout)
	var exit interface{ Sys() any }
	if err == nil || !errors.As(err, &exit) || !strings.Contains(p.Output(), "x509 overlay") {
		t.Errorf("exit %v, output:\n%s", err, p.Output())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.ExitStatus() != 1 {
		t.Errorf("exit status %d", ws.ExitStatus())
	}
}

// When the router restarts, c2s starts its sessions again at sm and what
// the clients sent meanwhile arrives; the clients see nothing but a
// delay.
func TestRouterRestart(t *testing.T) {
	e := startEnv(t, "-resend-interval", "500ms")
	alice := e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{StreamManagement: true})
	sess, _ := e.sm.SessionByJID(alice.JID())
	e.waitEvent(t, "the update at enable", func(ev standin.Event) bool {
		return ev.Action == "start" && ev.Attrs["sid"] == sess.SID && ev.Attrs["sm"] == "1"
	})
	e.router.Kill()
	send(t, alice, `<message to='nobody@`+network+`' id='during' type='chat'><body>x</body></message><r xmlns='urn:xmpp:sm:3'/>`)
	e.router = testkit.StartProcess(t, "router", routerBin,
		[]string{"-listen", e.routerAddr, "-admin", e.routerAdmin, "-log-format", "console"},
		[]string{"KONTALK_SECRET=" + secret})
	if a := expectStanza(t, alice, "the ack", isAck); a.Attr("h") != "1" {
		t.Errorf("ack %s", a)
	}
	// Started at bind, updated at enable, and started again after the
	// restart.
	testkit.Eventually(t, timeout, "the session started again", func() bool {
		starts := 0
		for _, ev := range e.sm.Events() {
			if ev.Action == "start" && ev.Attrs["sid"] == sess.SID {
				starts++
			}
		}
		return starts >= 3
	})
	e.waitEvent(t, "the message", func(ev standin.Event) bool { return ev.Action == "stanza" && ev.Inner.Attr("id") == "during" })
}
