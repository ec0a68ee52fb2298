package test

// Interoperability with XEP-0114 component libraries we did not write:
// gosrc.io/xmpp, in this process, and slixmpp, as a Python process
// (testdata/slix_component.py). Both connect as third-party components
// (-component NAME=SECRET) and talk to one of ours.

import (
	"context"
	stdxml "encoding/xml"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"gosrc.io/xmpp"
	"gosrc.io/xmpp/stanza"

	pkgstanza "github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
)

const (
	nsE2E       = "urn:ietf:params:xml:ns:xmpp-e2e"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsPing      = "urn:xmpp:ping"

	// python is Debian's interpreter, which has python3-slixmpp; the
	// python3 first on PATH may be another one without it.
	python = "/usr/bin/python3"
)

// A gosrc.io/xmpp component and one of ours exchange messages and IQs
// both ways, and ours learns when the gosrc component leaves.
func TestGoSRCComponent(t *testing.T) {
	r := startRouter(t, "-component", "bot.example=botsecret")
	ours := startComp(t, r, "ours.example")
	bot := startGoSRC(t, r, "bot.example", "botsecret")
	ours.expectRoute(t, "bot.example:true")

	t.Run("ours to gosrc", func(t *testing.T) {
		ours.send(t, `<message from='alice@ours.example/phone' to='bot@bot.example' id='gs-in1' type='chat'><body>hello bot</body></message>`)
		msg := bot.nextMessage(t)
		want := stanza.Attrs{Type: stanza.MessageTypeChat, Id: "gs-in1", From: "alice@ours.example/phone", To: "bot@bot.example"}
		if msg.Attrs != want || msg.Body != "hello bot" {
			t.Errorf("gosrc received %+v body %q, want %+v body %q", msg.Attrs, msg.Body, want, "hello bot")
		}
	})

	t.Run("gosrc to ours", func(t *testing.T) {
		msg := stanza.NewMessage(stanza.Attrs{Type: stanza.MessageTypeChat, Id: "gs-out1", From: "bot@bot.example/svc", To: "alice@ours.example/phone"})
		msg.Body = "hello alice"
		sent, err := stdxml.Marshal(msg) // what Send writes
		if err != nil {
			t.Fatal(err)
		}
		if err := bot.Send(msg); err != nil {
			t.Fatal(err)
		}
		got := ours.expect(t, "gs-out1")
		if got != string(sent) {
			t.Errorf("ours received\n%s\ngosrc sent\n%s", got, sent)
		}
		el := parse(t, got)
		for attr, want := range map[string]string{"from": "bot@bot.example/svc", "to": "alice@ours.example/phone", "id": "gs-out1", "type": "chat"} {
			if el.Attr(attr) != want {
				t.Errorf("%s=%q, want %q", attr, el.Attr(attr), want)
			}
		}
		if b := el.Child("body", stream.NSComponent); b == nil || b.Text() != "hello alice" {
			t.Errorf("body lost: %s", got)
		}

		// gosrc's stanza types drop payloads they do not know; a
		// component that needs one writes it with SendRaw, and the
		// router passes it on as written.
		raw := `<message from="bot@bot.example" to="alice@ours.example" id="gs-out2"><body>[encrypted]</body><e2e xmlns="` + nsE2E + `">hQEMA0f8Q1vq</e2e></message>`
		if err := bot.SendRaw(raw); err != nil {
			t.Fatal(err)
		}
		if got := ours.expect(t, "gs-out2"); got != raw {
			t.Errorf("ours received\n%s\ngosrc sent\n%s", got, raw)
		}
	})

	t.Run("iq gosrc to ours", func(t *testing.T) {
		iq, err := stanza.NewIQ(stanza.Attrs{Type: stanza.IQTypeGet, Id: "gs-ping", From: "bot.example", To: "ours.example"})
		if err != nil {
			t.Fatal(err)
		}
		iq.Any = &stanza.Node{XMLName: stdxml.Name{Space: nsPing, Local: "ping"}}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		results, err := bot.SendIQ(ctx, iq)
		if err != nil {
			t.Fatal(err)
		}
		got := parse(t, ours.expect(t, "gs-ping"))
		if got.Attr("type") != "get" || got.Attr("from") != "bot.example" || got.Child("ping", nsPing) == nil {
			t.Fatalf("ours received %s", got)
		}
		ours.send(t, `<iq from='ours.example' to='bot.example' id='gs-ping' type='result'/>`)
		select {
		case res, ok := <-results:
			if !ok || res.Type != stanza.IQTypeResult || res.From != "ours.example" || res.To != "bot.example" {
				t.Errorf("gosrc got %+v (ok %v)", res.Attrs, ok)
			}
		case <-ctx.Done():
			t.Fatal("gosrc got no IQ result")
		}
	})

	t.Run("iq ours to gosrc", func(t *testing.T) {
		ours.send(t, `<iq from='ours.example' to='bot.example' id='gs-disco' type='get'><query xmlns='`+nsDiscoInfo+`'/></iq>`)
		got := parse(t, ours.expect(t, "gs-disco"))
		var identity *xml.Element
		if q := got.Child("query", nsDiscoInfo); q != nil {
			identity = q.Child("identity", nsDiscoInfo)
		}
		if got.Attr("type") != "result" || got.Attr("from") != "bot.example" || got.Attr("to") != "ours.example" ||
			identity == nil || identity.Attr("category") != "gateway" {
			t.Errorf("disco#info answer: %s", got)
		}
		// gosrc answers what it has no handler for itself.
		ours.send(t, `<iq from='ours.example' to='bot.example' id='gs-unknown' type='set'><frob xmlns='urn:example:frob'/></iq>`)
		got = parse(t, ours.expect(t, "gs-unknown"))
		var condition *xml.Element
		if e := got.Child("error", stream.NSComponent); e != nil {
			condition = e.Child("feature-not-implemented", pkgstanza.NSStanzas)
		}
		if got.Attr("type") != "error" || got.Attr("from") != "bot.example" || condition == nil {
			t.Errorf("answer to an unknown IQ: %s", got)
		}
	})

	t.Run("route presence", func(t *testing.T) {
		bot.disconnect(t)
		ours.expectRoute(t, "bot.example:false")
		// gosrc closed its stream (and waited for the router's end).
		var connz struct {
			Recent []struct{ Name, Reason string } `json:"recently_closed"`
		}
		testkit.Eventually(t, timeout, "bot.example in the recent closes", func() bool {
			getJSON(t, r, "/connz", &connz)
			return len(connz.Recent) > 0
		})
		if len(connz.Recent) != 1 || connz.Recent[0].Name != "bot.example" || connz.Recent[0].Reason != "closed" {
			t.Errorf("closes: %+v", connz.Recent)
		}
	})
}

// gosrc.io/xmpp reports the router's refusal of a wrong secret.
func TestGoSRCWrongSecret(t *testing.T) {
	r := startRouter(t, "-component", "bot.example=botsecret")
	c, err := xmpp.NewComponent(xmpp.ComponentOptions{
		TransportConfiguration: xmpp.TransportConfiguration{Address: r.addr, Domain: "bot.example", ConnectTimeout: 5},
		Domain:                 "bot.example",
		Secret:                 "not the secret",
	}, xmpp.NewRouter(), func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Connect()
	if err == nil {
		c.Disconnect()
		t.Fatal("the router accepted a wrong secret")
	}
	// The socket stays open in gosrc after a refusal (the router closed
	// its side); Disconnect would wait ConnectTimeout for a stream end
	// that already came.
	if !strings.Contains(err.Error(), "handshake failed not-authorized") {
		t.Errorf("Connect: %v", err)
	}
	testkit.Eventually(t, timeout, "refusal logged", func() bool {
		return strings.Contains(r.proc.Output(), "wrong secret for bot.example")
	})
}

// A slixmpp component echoes 50 messages in order, with their encrypted
// payload, and the queries and presence it sends on its own keep the
// stream up.
func TestSlixmppEchoComponent(t *testing.T) {
	r := startRouter(t, "-component", "slix.example=slixsecret")
	ours := startComp(t, r, "ours.example")
	slix := startSlix(t, r, "slix.example", "slixsecret", "ours.example")
	slix.WaitOutput("ready", timeout)
	ours.expectRoute(t, "slix.example:true")

	const n = 50
	for i := range n {
		ours.send(t, fmt.Sprintf(`<message from='alice@ours.example/phone' to='user%d@slix.example' id='slix-%02d' type='chat'>`+
			`<body>message %d</body><e2e xmlns='%s'>hQEMA%d==</e2e></message>`, i, i, i, nsE2E, i))
	}
	echoes := ours.waitCount(t, "echo: ", n)
	for i, raw := range echoes {
		el := parse(t, raw)
		from := fmt.Sprintf("user%d@slix.example", i)
		if el.Attr("id") != fmt.Sprintf("slix-%02d", i) || el.Attr("from") != from || el.Attr("to") != "alice@ours.example/phone" || el.Attr("type") != "chat" {
			t.Errorf("echo %d out of order or misaddressed: %s", i, raw)
			continue
		}
		if b := el.Child("body", stream.NSComponent); b == nil || b.Text() != fmt.Sprintf("echo: message %d", i) {
			t.Errorf("echo %d body: %s", i, raw)
		}
		if e := el.Child("e2e", nsE2E); e == nil || e.Text() != fmt.Sprintf("hQEMA%d==", i) {
			t.Errorf("echo %d lost its e2e payload: %s", i, raw)
		}
	}

	// What slixmpp sent on its own: a presence and queries, answered here.
	pres := parse(t, ours.expect(t, "echo service"))
	if pres.Local() != "presence" || pres.Attr("from") != "slix.example" || pres.Attr("to") != "watcher@ours.example" {
		t.Errorf("slixmpp presence: %s", pres)
	}
	disco := parse(t, ours.expect(t, nsDiscoInfo))
	ours.send(t, fmt.Sprintf(`<iq from='ours.example' to='slix.example' id='%s' type='result'><query xmlns='%s'>`+
		`<identity category='component' type='generic' name='ours'/><feature var='%s'/></query></iq>`,
		disco.Attr("id"), nsDiscoInfo, nsPing))
	slix.WaitOutput("disco component/generic ours", timeout)
	ping := parse(t, ours.expect(t, nsPing))
	ours.send(t, fmt.Sprintf(`<iq from='ours.example' to='slix.example' id='%s' type='result'/>`, ping.Attr("id")))
	slix.WaitOutput("pong", timeout)
	// Its ping to a domain nobody serves comes back as the router's error,
	// which slixmpp reads.
	slix.WaitOutput("bounce remote-server-not-found", timeout)

	// Queries the other way, answered by slixmpp's plugins or by slixmpp
	// itself.
	ours.send(t, `<iq from='ours.example' to='slix.example' id='to-slix-disco' type='get'><query xmlns='`+nsDiscoInfo+`'/></iq>`)
	ours.send(t, `<iq from='ours.example' to='slix.example' id='to-slix-ping' type='get'><ping xmlns='`+nsPing+`'/></iq>`)
	ours.send(t, `<iq from='ours.example' to='slix.example' id='to-slix-frob' type='set'><frob xmlns='urn:example:frob'/></iq>`)
	for id, check := range map[string]func(*xml.Element) bool{
		"to-slix-disco": func(e *xml.Element) bool {
			return e.Attr("type") == "result" && e.Child("query", nsDiscoInfo) != nil
		},
		"to-slix-ping": func(e *xml.Element) bool { return e.Attr("type") == "result" },
		"to-slix-frob": func(e *xml.Element) bool {
			return e.Attr("type") == "error" && e.Child("error", "") != nil
		},
	} {
		got := parse(t, ours.expect(t, id))
		if got.Attr("from") != "slix.example" || got.Attr("to") != "ours.example" || !check(got) {
			t.Errorf("answer to %s: %s", id, got)
		}
	}

	// Nothing of this closed the stream.
	var connz struct {
		Open   []struct{ Name string }
		Recent []struct{ Name, Reason string } `json:"recently_closed"`
	}
	getJSON(t, r, "/connz", &connz)
	if len(connz.Open) != 2 || len(connz.Recent) != 0 {
		t.Errorf("connections: open %+v, closed %+v", connz.Open, connz.Recent)
	}
	if out := slix.Output(); strings.Contains(out, "stream-error") || strings.Contains(out, "disconnected") {
		t.Errorf("slixmpp lost its stream:\n%s", out)
	}
}

// slixmpp stamps no 'from' on a message its caller gave none
// (make_message without mfrom); the component keeps its stream, whatever
// becomes of that message.
func TestSlixmppMessageWithoutFrom(t *testing.T) {
	// slixmpp writes no 'from' unless told to; the router stamps the
	// component's name, as Prosody does, and the stream stays open.
	r := startRouter(t, "-component", "slix.example=slixsecret")
	ours := startComp(t, r, "ours.example")
	slix := startSlix(t, r, "slix.example", "slixsecret", "ours.example")
	slix.WaitOutput("ready", timeout)

	ours.send(t, `<message from='alice@ours.example/phone' to='bob@slix.example' id='no-from' type='chat'><body>no-from: hi</body></message>`)
	ours.send(t, `<message from='alice@ours.example/phone' to='bob@slix.example' id='after' type='chat'><body>still there?</body></message>`)
	ours.expect(t, "echo: still there?")
	if out := slix.Output(); strings.Contains(out, "stream-error") || strings.Contains(out, "disconnected") {
		t.Errorf("slixmpp lost its stream:\n%s", out)
	}
}

// slixmpp reports the router's refusal of a wrong secret and exits.
func TestSlixmppWrongSecret(t *testing.T) {
	r := startRouter(t, "-component", "slix.example=slixsecret")
	slix := startSlix(t, r, "slix.example", "not the secret", "ours.example")
	err := slix.Wait(timeout)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("slixmpp exited with %v, want status 2 (no session)", err)
	}
	if out := slix.Output(); !strings.Contains(out, "stream-error not-authorized") || strings.Contains(out, "ready") {
		t.Errorf("slixmpp did not see not-authorized:\n%s", out)
	}
	if !strings.Contains(r.proc.Output(), "wrong secret for slix.example") {
		t.Error("the router did not log the refusal")
	}
}

// goSRC is a gosrc.io/xmpp component recording the messages it receives
// and answering disco#info.
type goSRC struct {
	*xmpp.Component
	messages chan stanza.Message
	errs     chan error
	once     sync.Once
}

func startGoSRC(t *testing.T, r *router, name, secret string) *goSRC {
	t.Helper()
	g := &goSRC{messages: make(chan stanza.Message, 16), errs: make(chan error, 1)}
	routes := xmpp.NewRouter()
	// Handlers run on gosrc's reading goroutine.
	routes.HandleFunc("message", func(_ xmpp.Sender, p stanza.Packet) {
		if msg, ok := p.(stanza.Message); ok {
			g.messages <- msg
		}
	})
	routes.NewRoute().IQNamespaces(nsDiscoInfo).HandlerFunc(func(s xmpp.Sender, p stanza.Packet) {
		iq, ok := p.(*stanza.IQ)
		if !ok || iq.Type != stanza.IQTypeGet {
			return
		}
		res, err := stanza.NewIQ(stanza.Attrs{Type: stanza.IQTypeResult, Id: iq.Id, From: iq.To, To: iq.From})
		if err != nil {
			g.fail(err)
			return
		}
		res.DiscoInfo().AddIdentity("interop bot", "gateway", "service")
		if err := s.Send(res); err != nil {
			g.fail(err)
		}
	})
	// Connect directly: gosrc's StreamManager does not work with
	// components (it asserts a *Client).
	c, err := xmpp.NewComponent(xmpp.ComponentOptions{
		TransportConfiguration: xmpp.TransportConfiguration{Address: r.addr, Domain: name, ConnectTimeout: 5},
		Domain:                 name,
		Secret:                 secret,
		Name:                   "interop bot",
		Category:               "gateway",
		Type:                   "service",
	}, routes, g.fail)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(); err != nil {
		t.Fatalf("gosrc component %s: %v", name, err)
	}
	g.Component = c
	t.Cleanup(func() { g.disconnect(t) })
	return g
}

// fail records the first error gosrc reports from its reading goroutine.
func (g *goSRC) fail(err error) {
	select {
	case g.errs <- err:
	default:
	}
}

func (g *goSRC) nextMessage(t *testing.T) stanza.Message {
	t.Helper()
	select {
	case msg := <-g.messages:
		return msg
	case err := <-g.errs:
		t.Fatalf("gosrc component: %v", err)
	case <-time.After(timeout):
		t.Fatal("gosrc component received no message")
	}
	return stanza.Message{}
}

// disconnect closes the stream once: gosrc's Disconnect waits for the
// router's stream end, which comes only the first time.
func (g *goSRC) disconnect(t *testing.T) {
	t.Helper()
	g.once.Do(func() {
		if err := g.Disconnect(); err != nil {
			t.Errorf("gosrc disconnect: %v", err)
		}
		select {
		case err := <-g.errs:
			t.Errorf("gosrc component: %v", err)
		default:
		}
	})
}

// startSlix starts testdata/slix_component.py as component name.
func startSlix(t *testing.T, r *router, name, secret, peer string) *testkit.Process {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import slixmpp").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import slixmpp (install python3-slixmpp): %v\n%s", python, err, out)
	}
	return testkit.StartProcess(t, "slixmpp", python, []string{"testdata/slix_component.py", r.addr, name, secret, peer}, nil)
}

// parse reads a stanza as a component receives it.
func parse(t *testing.T, raw string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(raw), xml.Scope{Default: stream.NSComponent})
	if err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return el
}
