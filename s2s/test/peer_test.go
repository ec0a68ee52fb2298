package test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/s2s/s2stest"
)

// peer is a server-to-server stream to the s2s under test, spoken byte
// by byte by the test: the hostile peers, and well-behaved ones.
type peer struct {
	t        testing.TB
	raw      net.Conn
	conn     net.Conn
	r        *xml.Reader
	from, to string
	id       string // the stream id in the server's last header
	features string // the server's last <stream:features/>
}

const streamHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='%s' to='%s' version='1.0'>`

// dialPeer connects and opens a stream from → to.
func dialPeer(t testing.TB, addr, from, to string) *peer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, s2stest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	p := &peer{t: t, raw: nc, conn: nc, from: from, to: to}
	p.r = xml.NewReader(nc, xml.Limits{MaxElementBytes: 1 << 20})
	p.open()
	return p
}

// open sends a stream header and reads the server's, and its features.
func (p *peer) open() {
	p.t.Helper()
	p.send(fmt.Sprintf(streamHeader, p.from, p.to))
	top := p.next()
	if top.Kind != xml.KindOpen {
		p.t.Fatalf("expected a stream header, got %s", top.Raw)
	}
	p.id = p.r.Header().Get("id")
	f := p.next()
	p.features = string(f.Raw)
	if !f.Is("stream:features") {
		p.t.Fatalf("expected stream features, got %s", f.Raw)
	}
}

func (p *peer) send(s string) {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(s2stest.Timeout))
	if _, err := io.WriteString(p.conn, s); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// next reads the next unit of the stream.
func (p *peer) next() *xml.Top {
	p.t.Helper()
	p.raw.SetReadDeadline(time.Now().Add(s2stest.Timeout))
	top, err := p.r.Next()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return top.Clone()
}

// expect reads until an element containing every substring arrives.
func (p *peer) expect(substrs ...string) string {
	p.t.Helper()
	for {
		top := p.next()
		if s2stest.ContainsAll(string(top.Raw), substrs) {
			return string(top.Raw)
		}
		if top.Is("stream:error") || top.Kind == xml.KindClose {
			p.t.Fatalf("expected %q, got %s", substrs, top.Raw)
		}
	}
}

// startTLS upgrades the stream, presenting cert when not nil, and opens
// it again.
func (p *peer) startTLS(cert *tls.Certificate) {
	p.t.Helper()
	if !strings.Contains(p.features, "urn:ietf:params:xml:ns:xmpp-tls") {
		p.t.Fatalf("no STARTTLS offered: %s", p.features)
	}
	p.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if top := p.next(); !top.Is("proceed") {
		p.t.Fatalf("expected <proceed/>, got %s", top.Raw)
	}
	p.startTLSAfterProceed(cert)
	p.open()
}

// startTLSAfterProceed runs the TLS handshake, presenting cert when not
// nil; the stream is not reopened.
func (p *peer) startTLSAfterProceed(cert *tls.Certificate) {
	p.t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: p.to} // the peer under test is not what is checked here
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tc := tls.Client(p.raw, cfg)
	tc.SetDeadline(time.Now().Add(s2stest.Timeout))
	if err := tc.Handshake(); err != nil {
		p.t.Fatalf("TLS: %v", err)
	}
	tc.SetDeadline(time.Time{})
	p.conn = tc
	p.r.Reset(tc)
}

// external authenticates with SASL EXTERNAL and restarts the stream.
func (p *peer) external() {
	p.t.Helper()
	if !strings.Contains(p.features, "<mechanism>EXTERNAL</mechanism>") {
		p.t.Fatalf("EXTERNAL not offered: %s", p.features)
	}
	p.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
	if top := p.next(); !top.Is("success") {
		p.t.Fatalf("expected <success/>, got %s", top.Raw)
	}
	p.r.Restart()
	p.open()
}

// expectStreamError reads until the server's stream error, checks its
// condition, and expects the stream and the connection to end.
func (p *peer) expectStreamError(cond string) string {
	p.t.Helper()
	for {
		p.raw.SetReadDeadline(time.Now().Add(s2stest.Timeout))
		top, err := p.r.Next()
		if err != nil {
			p.t.Fatalf("expected stream error %s, got %v", cond, err)
		}
		if top.Is("stream:error") {
			got := string(top.Raw)
			if !strings.Contains(got, "<"+cond+" ") {
				p.t.Fatalf("expected stream error %s, got %s", cond, got)
			}
			p.expectClosed()
			return got
		}
		if top.Kind == xml.KindClose {
			p.t.Fatalf("stream closed without the stream error %s", cond)
		}
	}
}

// expectClosed waits for the end of the stream and of the connection.
func (p *peer) expectClosed() {
	p.t.Helper()
	deadline := time.Now().Add(s2stest.Timeout)
	for {
		p.raw.SetReadDeadline(deadline)
		top, err := p.r.Next()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				p.t.Fatal("the server kept the connection open")
			}
			return
		}
		if top.Kind == xml.KindClose {
			// The server closes the TCP connection right after.
			buf := make([]byte, 1)
			for {
				if _, err := p.conn.Read(buf); err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						p.t.Fatal("the server kept the connection open after its stream end")
					}
					return
				}
			}
		}
	}
}

// fakeServer is a scripted remote XMPP server for s2s's outbound links:
// it accepts their streams, offers dialback, and answers dialback
// requests with the answer its script gives.
type fakeServer struct {
	t      testing.TB
	ln     net.Listener
	domain string
	cert   *tls.Certificate // offered with STARTTLS
	// answer returns what to send for a dialback element received, or ""
	// for nothing.
	answer func(el string) string

	mu       sync.Mutex
	received []string
	wg       sync.WaitGroup
}

func startFakeServer(t testing.TB, domain string, cert *tls.Certificate, answer func(el string) string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, domain: domain, cert: cert, answer: answer}
	var conns []net.Conn
	var connsMu sync.Mutex
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) serve(c net.Conn) {
	r := xml.NewReader(c, xml.Limits{MaxElementBytes: 1 << 20})
	secured := false
	for {
		top, err := r.Next()
		if err != nil {
			return
		}
		raw := string(top.Raw)
		f.mu.Lock()
		f.received = append(f.received, raw)
		f.mu.Unlock()
		switch {
		case top.Kind == xml.KindOpen:
			h := r.Header()
			feature := "<dialback xmlns='urn:xmpp:features:dialback'/>"
			if !secured {
				feature = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
			}
			fmt.Fprintf(c, `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='%s' to='%s' id='fake-stream-id' version='1.0'><stream:features>%s</stream:features>`,
				h.Get("to"), h.Get("from"), feature)
		case top.Is("starttls") && !secured:
			io.WriteString(c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*f.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secured = tc, true
			r.Reset(tc)
		case top.Kind == xml.KindClose:
			io.WriteString(c, "</stream:stream>")
			return
		default:
			if a := f.answer(raw); a != "" {
				io.WriteString(c, a)
			}
		}
	}
}

// got reports whether the fake server received an element containing
// every substring.
func (f *fakeServer) got(substrs ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.received {
		if s2stest.ContainsAll(r, substrs) {
			return true
		}
	}
	return false
}

// attr extracts an attribute value from a raw element written with
// single or double quotes.
func attr(el, name string) string {
	for _, q := range []string{"'", `"`} {
		if i := strings.Index(el, " "+name+"="+q); i >= 0 {
			rest := el[i+len(name)+3:]
			return rest[:strings.Index(rest, q)]
		}
	}
	return ""
}
