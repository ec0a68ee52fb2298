package xmppclient

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const domain = "kontalk.test"

// peer is a scripted server: it reads until a pattern and writes canned
// answers, on its own goroutine.
type peer struct {
	conn net.Conn
	got  []byte
}

func (p *peer) expect(pattern string) (string, error) {
	re := regexp.MustCompile(pattern)
	buf := make([]byte, 4096)
	for {
		if loc := re.FindIndex(p.got); loc != nil {
			m := string(p.got[loc[0]:loc[1]])
			p.got = p.got[loc[1]:]
			return m, nil
		}
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := p.conn.Read(buf)
		p.got = append(p.got, buf[:n]...)
		if err != nil {
			return "", err
		}
	}
}

func (p *peer) send(s string) error {
	_, err := p.conn.Write([]byte(s))
	return err
}

const serverHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='kontalk.test' id='s1' version='1.0'>`

// start runs script against the first connection to a loopback listener.
func start(t *testing.T, script func(p *peer, cert tls.Certificate) error) (addr string, tlsConf *tls.Config, wait func() error) {
	t.Helper()
	cert, pool, err := clienttest.ServerCertificate(domain)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- script(&peer{conn: c}, cert)
	}()
	return ln.Addr().String(), &tls.Config{RootCAs: pool}, func() error { return <-done }
}

// steps runs script steps in order: even entries are patterns to read,
// odd ones what to answer ("" for nothing); "TLS" upgrades the
// connection.
func steps(p *peer, cert tls.Certificate, s ...string) error {
	for i := 0; i+1 < len(s); i += 2 {
		if s[i] == "TLS" {
			tc := tls.Server(p.conn, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
			if err := tc.Handshake(); err != nil {
				return err
			}
			p.conn, p.got = tc, nil
			continue
		}
		m, err := p.expect(s[i])
		if err != nil {
			return errors.New("waiting for " + s[i] + ": " + err.Error())
		}
		answer := s[i+1]
		if strings.Contains(answer, "$ID") {
			id := regexp.MustCompile(`id=["']([^"']+)`).FindStringSubmatch(m)
			if id == nil {
				return errors.New("no id in " + m)
			}
			answer = strings.ReplaceAll(answer, "$ID", id[1])
		}
		if answer != "" {
			if err := p.send(answer); err != nil {
				return err
			}
		}
	}
	return nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// login is the server side of STARTTLS, EXTERNAL, bind and enable.
var login = []string{
	`<stream:stream[^>]*>`, serverHeader + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
	`<starttls[^>]*/>`, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`,
	"TLS", "",
	`<stream:stream[^>]*>`, serverHeader + `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>`,
	`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`, `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`,
	`<stream:stream[^>]*>`, serverHeader + `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/></stream:features>`,
	`<iq type='set' id='[^']+'><bind[^>]*><resource>phone</resource></bind></iq>`, `<iq type='result' id='$ID'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>u@kontalk.test/phone</jid></bind></iq>`,
	`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`, `<presence id='early'/><enabled xmlns='urn:xmpp:sm:3' id='r1' resume='true' max='60'/>`,
}

func TestLoginAndStreamManagement(t *testing.T) {
	script := append(append([]string(nil), login...),
		`<message to='v@kontalk.test' id='m1'><body>hi</body></message><r xmlns='urn:xmpp:sm:3'/>`, `<a xmlns='urn:xmpp:sm:3' h='1'/><message from='v@kontalk.test/x' id='m2'/><r xmlns='urn:xmpp:sm:3'/>`,
		`<a xmlns='urn:xmpp:sm:3' h='1'/>`, `<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error></stream:stream>`,
	)
	addr, conf, wait := start(t, func(p *peer, cert tls.Certificate) error { return steps(p, cert, script...) })
	id, err := clienttest.New(domain, clienttest.Options{ECDSA: true})
	if err != nil {
		t.Fatal(err)
	}
	conf.Certificates = []tls.Certificate{id.Certificate}
	c, err := Login(ctx(t), Config{Addr: addr, Domain: domain, TLS: conf}, LoginOptions{Resource: "phone", Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if c.JID() != "u@kontalk.test/phone" {
		t.Errorf("jid %s", c.JID())
	}
	state, ok := c.ConnectionState()
	if !ok || len(state.PeerCertificates) == 0 {
		t.Error("no TLS state")
	}
	// The presence sent before <enabled/> was kept, and is not counted.
	if el, err := c.Next(ctx(t)); err != nil || el.Attr("id") != "early" {
		t.Fatalf("early presence: %v %v", el, err)
	}
	if err := c.Send(ctx(t), []byte(`<message to='v@kontalk.test' id='m1'><body>hi</body></message>`)); err != nil {
		t.Fatal(err)
	}
	if err := c.RequestAck(ctx(t)); err != nil {
		t.Fatal(err)
	}
	a, err := c.Expect(ctx(t), func(el *xml.Element) bool { return el.Local() == "a" })
	if err != nil || a.Attr("h") != "1" || c.Acked() != 1 || c.Sent() != 1 {
		t.Fatalf("ack %v %v, acked %d, sent %d", a, err, c.Acked(), c.Sent())
	}
	// The server's <r/> is answered by Next itself.
	if el, err := c.Next(ctx(t)); err != nil || el.Attr("id") != "m2" || c.Received() != 1 {
		t.Fatalf("m2: %v %v, received %d", el, err, c.Received())
	}
	_, err = c.Next(ctx(t))
	var se *stream.Error
	if !errors.As(err, &se) || se.Condition != stream.Conflict || se.Text != "replaced" {
		t.Errorf("stream error: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

func TestDirectTLSAndFailures(t *testing.T) {
	addr, conf, wait := start(t, func(p *peer, cert tls.Certificate) error {
		return steps(p, cert,
			"TLS", "",
			`<stream:stream[^>]*>`, serverHeader+`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>`,
			`<auth[^>]*/>`, `<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`,
			`<response[^>]*>=</response>`, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>no key</text></failure>`,
			`<iq type='get' id='[^']+' to='kontalk.test'><query xmlns='jabber:iq:register'/></iq>`, `<iq type='error' id='$ID'><error type='cancel'><not-allowed xmlns='`+stanza.NSStanzas+`'/></error></iq>`,
			`</stream:stream>`, `</stream:stream>`,
		)
	})
	c, err := Dial(ctx(t), Config{Addr: addr, Domain: domain, DirectTLS: true, TLS: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if m := c.Mechanisms(); len(m) != 1 || m[0] != "EXTERNAL" {
		t.Errorf("mechanisms %v", m)
	}
	var fail *SASLError
	if err := c.AuthExternal(ctx(t), ""); !errors.As(err, &fail) || fail.Condition != "not-authorized" || fail.Text != "no key" {
		t.Errorf("auth: %v", err)
	}
	var serr *stanza.Error
	if _, err := c.IQ(ctx(t), "get", domain, "<query xmlns='jabber:iq:register'/>"); !errors.As(err, &serr) || serr.Condition != stanza.NotAllowed {
		t.Errorf("iq: %v", err)
	}
	// Waiting for nothing ends with the context, and the client stays
	// usable.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("idle next: %v", err)
	}
	if err := c.Close(ctx(t)); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

func TestIsStanza(t *testing.T) {
	for in, want := range map[string]bool{"<message/>": true, "<iq type='get'>": true, "<presence\n/>": true,
		"<messages/>": false, "<r xmlns='urn:xmpp:sm:3'/>": false, " ": false, "<iq": false} {
		if isStanza([]byte(in)) != want {
			t.Errorf("isStanza(%q) != %v", in, want)
		}
	}
	failed := xml.New("failed", NSSM).Append(xml.New("item-not-found", stanza.NSStanzas))
	if e := stanza.ParseError(wrapError(failed)); e == nil || e.Condition != stanza.ItemNotFound {
		t.Errorf("wrapError: %v", e)
	}
}

func TestLoginPlain(t *testing.T) {
	// base64("\x00alice\x00s3cret")
	const initial = "AGFsaWNlAHMzY3JldA=="
	addr, conf, wait := start(t, func(p *peer, cert tls.Certificate) error {
		return steps(p, cert,
			`<stream:stream[^>]*>`, serverHeader+`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>`,
			`<starttls[^>]*/>`, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`,
			"TLS", "",
			`<stream:stream[^>]*>`, serverHeader+`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>`+initial+`</auth>`, `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`,
			`<stream:stream[^>]*>`, serverHeader+`<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`,
			`<iq type='set' id='[^']+'><bind[^>]*/></iq>`, `<iq type='result' id='$ID'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@kontalk.test/r1</jid></bind></iq>`,
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[^<]+</auth>`, `<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`,
		)
	})
	c, err := Login(ctx(t), Config{Addr: addr, Domain: domain, TLS: conf}, LoginOptions{Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if c.JID() != "alice@kontalk.test/r1" {
		t.Errorf("jid %s", c.JID())
	}
	// PLAIN takes no challenge; NUL cannot be sent.
	if err := c.AuthPlain(ctx(t), "a\x00b", "x"); err == nil {
		t.Error("NUL in a username accepted")
	}
	if err := c.AuthPlain(ctx(t), "bob", "pw"); err == nil || !strings.Contains(err.Error(), "challenge") {
		t.Errorf("challenge to PLAIN: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}
