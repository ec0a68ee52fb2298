package test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
)

func TestRouteBetweenComponents(t *testing.T) {
	r := startRouter(t)
	a := startComp(t, r, "a.example")
	b := startComp(t, r, "b.example", component.Bind{Name: "extra.example"})

	a.send(t, `<message from='alice@a.example/r' to='bob@b.example/r' id='m1' type='chat'><body>hi</body></message>`)
	got := b.expect(t, "id='m1'")
	if got != `<message from='alice@a.example/r' to='bob@b.example/r' id='m1' type='chat'><body>hi</body></message>` {
		t.Fatalf("b received %s", got)
	}
	// A name bound with the extension routes like the handshake name,
	// and the answer comes back.
	a.send(t, `<iq from='a.example' to='extra.example' id='q1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`)
	b.expect(t, "id='q1'")
	b.send(t, `<iq from='extra.example' to='a.example' id='q1' type='result'/>`)
	a.expect(t, "type='result'")
}

// End-to-end payloads, xml:lang and prefixes the router does not know
// must arrive exactly as sent.
func TestPayloadsUnchanged(t *testing.T) {
	r := startRouter(t)
	a := startComp(t, r, "a.example")
	b := startComp(t, r, "b.example")
	stanzas := []string{
		`<message from='alice@a.example/phone' to='bob@b.example' id='e2e' type='chat' xml:lang='it'><body xml:lang='en'>[encrypted]</body>` +
			`<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>hQEMA0f8Q1vqM6KrAQf/+abc==</e2e>` +
			`<request xmlns='urn:xmpp:receipts'/></message>`,
		`<message from="alice@a.example/phone" to="bob@b.example" id="omemo"><encrypted xmlns='eu.siacs.conversations.axolotl'>` +
			`<header sid='27183'><key rid='31415' prekey="true">MwohBTu</key><iv>AAAA</iv></header><payload>BBBB</payload></encrypted>` +
			`<store xmlns='urn:xmpp:hints'/></message>`,
		`<message from='alice@a.example' to='bob@b.example' id='prefixes'><x:outer xmlns:x='urn:example:x' xmlns:y='urn:example:y' x:a='1' y:b="2 &amp; 3">` +
			`<y:inner><x:deep>text &lt;not a tag&gt; <![CDATA[<raw>]]></x:deep></y:inner></x:outer></message>`,
		`<presence from='alice@a.example/phone' to='bob@b.example'><c xmlns='http://jabber.org/protocol/caps' node='http://www.kontalk.org/' ver='none' hash='sha-1'/>` +
			`<pubkey xmlns='urn:xmpp:pubkey:2'><print>F0921F45685B4C2F4D3CCE52339A5EBC8F959C16</print></pubkey></presence>`,
	}
	for _, s := range stanzas {
		a.send(t, s)
	}
	for _, s := range stanzas {
		id := s[strings.Index(s, "id=")+4:]
		id = id[:strings.IndexAny(id, `'"`)]
		got := b.expect(t, id)
		if got != s {
			t.Errorf("payload changed:\nsent %s\ngot  %s", s, got)
		}
	}
}

func TestBounces(t *testing.T) {
	r := startRouter(t)
	a := startComp(t, r, "a.example")

	a.send(t, `<message from='alice@a.example/r' to='bob@nowhere.example' id='b1' type='chat'><body>x</body></message>`)
	got := a.expect(t, "id='b1'")
	for _, want := range []string{"type='error'", "to='alice@a.example/r'", "from='bob@nowhere.example'", "<remote-server-not-found", "no route to nowhere.example"} {
		if !strings.Contains(got, want) {
			t.Errorf("bounce %s lacks %s", got, want)
		}
	}
	// Errors are never answered: nothing comes back for an undeliverable
	// error, so the next stanza's answer is the next thing received.
	a.send(t, `<message from='alice@a.example/r' to='bob@nowhere.example' id='b2' type='error'/>`)
	a.send(t, `<iq from='a.example' to='nowhere.example' id='b3' type='result'/>`)
	a.send(t, `<iq from='a.example' to='nowhere.example' id='b4' type='get'/>`)
	a.expect(t, "id='b4'")
	for _, s := range a.snapshot() {
		if strings.Contains(s, "id='b2'") || strings.Contains(s, "id='b3'") {
			t.Errorf("an error or result was answered: %s", s)
		}
	}
	// No 'to': an error, never a broadcast.
	b := startComp(t, r, "b.example")
	a.send(t, `<message from='alice@a.example/r' id='b5'><body>to whom?</body></message>`)
	got = a.expect(t, "id='b5'")
	if !strings.Contains(got, "<bad-request") {
		t.Errorf("no-to bounce: %s", got)
	}
	a.send(t, `<message from='alice@a.example/r' to='bob@b.example' id='b6'/>`)
	b.expect(t, "id='b6'")
	for _, s := range b.snapshot() {
		if strings.Contains(s, "id='b5'") {
			t.Errorf("stanza without 'to' was delivered: %s", s)
		}
	}
	metrics := r.get(t, "/metrics")
	for _, want := range []string{`kontalk_router_stanzas_bounced_total{condition="remote-server-not-found"} 2`, `kontalk_router_stanzas_bounced_total{condition="bad-request"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRoutePresence(t *testing.T) {
	r := startRouter(t)
	sm := startComp(t, r, "sm-1.node1.example", component.Bind{Name: "node1.example", Multi: true})
	c2s := startComp(t, r, "c2s-1.node1.example")
	sm.expectRoute(t, "c2s-1.node1.example:true")
	// A newcomer learns the current set.
	s2s := startComp(t, r, "s2s.node1.example", component.Bind{Name: "s2s-out.node1.example", Default: true})
	for _, name := range []string{"sm-1.node1.example", "node1.example", "c2s-1.node1.example"} {
		s2s.expectRoute(t, name+":true")
	}
	sm.expectRoute(t, "s2s-out.node1.example:true")
	c2s.stop()
	sm.expectRoute(t, "c2s-1.node1.example:false")
	s2s.expectRoute(t, "c2s-1.node1.example:false")

	// Third-party components are not told about the server's routes.
	r2 := startRouter(t, "-component", "bot.example=botsecret")
	startComp(t, r2, "sm-1.node1.example")
	bot := startCompSecret(t, r2, "bot.example", "botsecret")
	startComp(t, r2, "c2s-9.node1.example")
	if ev := bot.routeEvents(); len(ev) != 0 {
		t.Errorf("third-party component got route presences %v", ev)
	}
}

func TestDefaultRoute(t *testing.T) {
	r := startRouter(t)
	s2s := startComp(t, r, "s2s.node1.example", component.Bind{Name: "s2s.node1.example", Default: true})
	sm := startComp(t, r, "sm-1.node1.example")
	sm.send(t, `<message from='alice@node1.example/r' to='romeo@montague.example' id='fed1'><body>hi</body></message>`)
	s2s.expect(t, "id='fed1'")
	// What comes back from the default route for a domain nobody serves
	// is answered, not looped back to it.
	s2s.send(t, `<message from='romeo@montague.example' to='juliet@capulet.example' id='fed2'/>`)
	got := s2s.expect(t, "id='fed2'")
	if !strings.Contains(got, "remote-server-not-found") {
		t.Fatalf("got %s", got)
	}
	// Only one connection holds the default route.
	other := rawComponent(t, r, "s2s-2.node1.example", secret)
	other.Send(`<bind xmlns='http://kontalk.org/protocol/router' name='s2s-2.node1.example' id='d' default='true'/>`)
	got = other.Expect("</bind>", timeout)
	if !strings.Contains(got, "type='error'") || !strings.Contains(got, "<conflict") {
		t.Fatalf("second default bind: %s", got)
	}
}

func TestGracefulShutdown(t *testing.T) {
	r := startRouter(t)
	conn := rawComponent(t, r, "a.example", secret)
	if err := r.proc.Stop(timeout); err != nil {
		t.Fatalf("router did not stop cleanly: %v", err)
	}
	got := conn.ExpectClosed(timeout)
	if streamError(got) != "system-shutdown" || !strings.HasSuffix(got, "</stream:stream>") {
		t.Fatalf("on shutdown the component got %q", got)
	}
}

func TestAdminEndpoints(t *testing.T) {
	r := startRouter(t)
	a := startComp(t, r, "a.example", component.Bind{Name: "m.example", Multi: true})
	b := startComp(t, r, "b.example", component.Bind{Name: "m.example", Multi: true})
	for i := range 5 {
		a.send(t, `<message from='a.example' to='b.example' id='x`+string(rune('0'+i))+`'/>`)
	}
	b.waitCount(t, "<message", 5)
	var routez struct {
		Routes []struct {
			Name       string
			Multi      bool
			Components []string
		}
	}
	getJSON(t, r, "/routez", &routez)
	found := false
	for _, rt := range routez.Routes {
		if rt.Name == "m.example" {
			found = rt.Multi && strings.Join(rt.Components, ",") == "a.example,b.example"
		}
	}
	if !found {
		t.Errorf("/routez: %+v", routez)
	}
	var connz struct {
		Open []struct {
			Name string
			In   uint64 `json:"stanzas_in"`
			Out  uint64 `json:"stanzas_out"`
		}
	}
	getJSON(t, r, "/connz", &connz)
	if len(connz.Open) != 2 || connz.Open[1].Name != "b.example" || connz.Open[1].Out != 5 {
		t.Errorf("/connz: %+v", connz)
	}
	testkit.Eventually(t, timeout, "hop latency observed", func() bool {
		return strings.Contains(r.get(t, "/metrics"), "kontalk_router_hop_latency_seconds_count 5")
	})
	metrics := r.get(t, "/metrics")
	for _, want := range []string{"kontalk_router_connections 2", "kontalk_router_stanzas_routed_total 5", "kontalk_router_queued_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func getJSON(t *testing.T, r *router, path string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.get(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
