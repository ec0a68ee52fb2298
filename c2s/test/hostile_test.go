package test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

const clientHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='` + network + `' version='1.0'>`

// streamErrorOf returns the condition of the stream error in what a
// connection received, and its text.
func streamErrorOf(got string) (string, string) {
	i := strings.Index(got, "<stream:error><")
	if i < 0 {
		return "", ""
	}
	rest := got[i+len("<stream:error><"):]
	cond := rest[:strings.IndexAny(rest, " />")]
	text := ""
	if j := strings.Index(rest, "'>"); j >= 0 {
		if k := strings.Index(rest[j:], "</text>"); k >= 0 {
			text = rest[j+2 : j+k]
		}
	}
	return cond, text
}

// startTLS upgrades a raw connection after its <starttls/> was accepted.
func startTLS(t *testing.T, e *env, c *testkit.Conn) *testkit.Conn {
	t.Helper()
	c.Send(clientHeader)
	c.Expect("</stream:features>", timeout)
	c.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	c.Expect("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", timeout)
	tc := tls.Client(c.NetConn(), &tls.Config{RootCAs: e.pool, ServerName: network})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tlsConn := testkit.NewConn(t, tc)
	tlsConn.Send(clientHeader)
	tlsConn.Expect("</stream:features>", timeout)
	return tlsConn
}

// Bad input on the client port gets the stream error that names it.
func TestBadInput(t *testing.T) {
	e := startEnv(t)
	cases := []struct {
		name, send, cond, text string
		tls                    bool
	}{
		{"stanza before STARTTLS", clientHeader + "<message to='x@" + network + "'><body>hi</body></message>", "policy-violation", "TLS is required", false},
		{"DOCTYPE", "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>" + clientHeader, "restricted-xml", "", false},
		{"entity reference", clientHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>&x;</starttls>", "restricted-xml", "", false},
		{"oversized before TLS", clientHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>" + strings.Repeat("x", 9000), "policy-violation", "8192", false},
		{"oversized before auth", "<iq type='set' id='1'><query xmlns='jabber:iq:register'>" + strings.Repeat("x", 9000), "policy-violation", "8192", true},
		{"too deep before auth", strings.Repeat("<a>", 20), "policy-violation", "deeper", true},
		{"stanza before auth", "<message to='x@" + network + "'><body>hi</body></message>", "not-authorized", "authenticate", true},
		{"wrong namespace", strings.Replace(clientHeader, "jabber:client", "jabber:server", 1), "invalid-namespace", "", false},
		{"wrong domain", strings.Replace(clientHeader, "to='"+network+"'", "to='other.example'", 1), "host-unknown", "", false},
		{"old version", strings.Replace(clientHeader, "' version='1.0'>", "'>", 1), "unsupported-version", "", false},
		{"not XML", clientHeader + "<<>>", "not-well-formed", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testkit.Dial(t, e.addr)
			if tc.tls {
				c = startTLS(t, e, c)
			}
			c.Send(tc.send)
			got := c.ExpectClosed(timeout)
			cond, text := streamErrorOf(got)
			if cond != tc.cond || !strings.Contains(text, tc.text) || !strings.HasSuffix(got, "</stream:stream>") {
				t.Errorf("got %s %q, want %s naming %q; received %q", cond, text, tc.cond, tc.text, got)
			}
		})
	}
	// The server still serves.
	e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{})
}

// Connections that never finish their handshake are closed at the
// pre-auth deadline, with connection-timeout where a stream exists.
func TestPreAuthDeadline(t *testing.T) {
	e := startEnv(t, "-preauth-timeout", "1s")
	silent := testkit.Dial(t, e.addr)
	header := testkit.Dial(t, e.addr)
	header.Send(clientHeader)
	stalled := testkit.Dial(t, e.addr)
	stalled.Send(clientHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	noauth := startTLS(t, e, testkit.Dial(t, e.addr))
	direct := testkit.Dial(t, e.tlsAddr)
	for name, c := range map[string]*testkit.Conn{"silent": silent, "header only": header, "after TLS": noauth} {
		if cond, text := streamErrorOf(c.ExpectClosed(timeout)); cond != "connection-timeout" {
			t.Errorf("%s: %s %s", name, cond, text)
		}
	}
	// A TLS handshake that never completes is simply closed.
	if got := stalled.ExpectClosed(timeout); !strings.Contains(got, "<proceed") {
		t.Errorf("stalled STARTTLS: %q", got)
	}
	direct.ExpectClosed(timeout)
	testkit.Eventually(t, timeout, "closes counted", func() bool {
		return strings.Contains(e.get(t, "/metrics"), `kontalk_c2s_tls_failures_total{why="timeout"} 2`)
	})
}

// A thousand idle connections from one address each get their stream
// error (the per-address limit at once, the pre-auth deadline for those
// admitted) while clients from other addresses are served.
func TestIdleFlood(t *testing.T) {
	const n, perIP = 1000, 50
	e := startEnv(t, "-preauth-timeout", "3s", "-max-conns-per-ip", fmt.Sprint(perIP))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}, Timeout: timeout}
	type result struct{ cond string }
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		nc, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		wg.Go(func() {
			nc.SetDeadline(time.Now().Add(2 * timeout))
			io.WriteString(nc, clientHeader)
			got, _ := io.ReadAll(nc)
			cond, _ := streamErrorOf(string(got))
			results <- result{cond}
		})
	}
	// Meanwhile, a client from another address logs in.
	id := newIdentity(t, clienttest.Options{})
	c := e.login(t, id, xmppclient.LoginOptions{StreamManagement: true})
	if _, err := c.IQ(ctxT(t), "get", network, "<ping xmlns='urn:xmpp:ping'/>"); err != nil {
		t.Errorf("a client from another address: %v", err)
	}
	wg.Wait()
	close(results)
	counts := map[string]int{}
	for r := range results {
		counts[r.cond]++
	}
	if counts["policy-violation"] != n-perIP || counts["connection-timeout"] != perIP {
		t.Errorf("stream errors: %v", counts)
	}
}
