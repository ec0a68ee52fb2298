package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/c2s/test/standin"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

func isAck(el *xml.Element) bool { return el.Local() == "a" && el.Space == xmppclient.NSSM }

func send(t *testing.T, c *xmppclient.Client, raw string) {
	t.Helper()
	if err := c.Send(ctxT(t), []byte(raw)); err != nil {
		t.Fatal(err)
	}
}

// A message goes to sm in an envelope with 'from' stamped; the sender's
// XEP-0198 ack comes once sm confirmed it; the recipient's ack of the
// stored message reaches sm as an ack of its inbox id.
func TestMessageAcks(t *testing.T) {
	e := startEnv(t)
	alice := e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{Resource: "phone", StreamManagement: true})
	bobID := newIdentity(t, clienttest.Options{})
	bob := e.login(t, bobID, xmppclient.LoginOptions{Resource: "laptop", StreamManagement: true})

	send(t, alice, `<message to='`+bobID.JID+`' id='m1' type='chat' from='forged@evil.example'><body>hi</body></message><r xmlns='urn:xmpp:sm:3'/>`)
	a := expectStanza(t, alice, "an ack", isAck)
	if a.Attr("h") != "1" {
		t.Errorf("ack %s", a)
	}
	ev := e.waitEvent(t, "the message", func(ev standin.Event) bool { return ev.Action == "stanza" && ev.Inner.Attr("id") == "m1" })
	if ev.Attrs["seq"] != "1" || ev.Inner.Attr("from") != alice.JID() || ev.Inner.Attr("to") != bobID.JID {
		t.Errorf("envelope %+v, stanza %s", ev.Attrs, ev.Inner)
	}
	got := expectStanza(t, bob, "the message", func(el *xml.Element) bool { return el.Attr("id") == "m1" })
	if got.Attr("from") != alice.JID() || got.Attr("to") != bob.JID() || got.Child("body", "").Text() != "hi" {
		t.Errorf("bob received %s", got)
	}
	// bob acknowledges; the inbox id is acknowledged to sm.
	if err := bob.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ack := e.waitEvent(t, "the ack", func(ev standin.Event) bool { return ev.Action == "ack" })
	if len(ack.Rids) != 1 || len(e.sm.Inbox()) != 0 {
		t.Errorf("ack %+v, inbox %v", ack, e.sm.Inbox())
	}
	// An IQ to the server goes to sm like any stanza once bound.
	if _, err := alice.IQ(ctxT(t), "get", network, "<ping xmlns='urn:xmpp:ping'/>"); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// The client's "sent" tick means stored: without sm's confirmation no ack
// comes; when sm answers (after c2s sends the stanza again) it does.
func TestAckWaitsForSM(t *testing.T) {
	e := startEnv(t, "-resend-interval", "300ms")
	alice := e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{StreamManagement: true})
	e.sm.Mute(true)
	send(t, alice, `<message to='nobody@`+network+`' id='m1' type='chat'><body>x</body></message><r xmlns='urn:xmpp:sm:3'/>`)
	e.waitEvent(t, "the message", func(ev standin.Event) bool { return ev.Action == "stanza" })
	// The session IQ is answered by c2s itself, in order: an ack written
	// for the <r/> would come before its result.
	if err := alice.Session(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for {
		el, err := alice.Next(shortCtx(t))
		if err != nil {
			break
		}
		if isAck(el) {
			t.Fatalf("acknowledged before sm confirmed: %s", el)
		}
	}
	e.sm.Mute(false)
	a := expectStanza(t, alice, "the ack", isAck)
	if a.Attr("h") != "2" {
		t.Errorf("ack %s (the message and the session IQ)", a)
	}
}

// shortCtx is for draining what has already arrived.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

// While sm confirms nothing, c2s stops reading the client after the
// window; once sm answers, everything goes through, in order.
func TestBackpressure(t *testing.T) {
	e := startEnv(t, "-max-unconfirmed", "4", "-resend-interval", "300ms")
	alice := e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{StreamManagement: true})
	e.sm.Mute(true)
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, `<message to='nobody@%s' id='m%d' type='chat'><body>%d</body></message>`, network, i, i)
	}
	b.WriteString(`<r xmlns='urn:xmpp:sm:3'/>`)
	send(t, alice, b.String())
	e.waitEvent(t, "the fourth message", func(ev standin.Event) bool { return ev.Action == "stanza" && ev.Attrs["seq"] == "4" })
	waitMetric(t, e, "kontalk_c2s_window_full_total 1")
	for _, ev := range e.sm.Events() {
		if ev.Action == "stanza" && ev.Attrs["seq"] > "4" && len(ev.Attrs["seq"]) == 1 {
			t.Fatalf("c2s read past the window: %+v", ev.Attrs)
		}
	}
	e.sm.Mute(false)
	a := expectStanza(t, alice, "the ack", isAck)
	if a.Attr("h") != "10" {
		t.Errorf("ack %s", a)
	}
	var order []string
	for _, ev := range e.sm.Events() {
		if ev.Action == "stanza" {
			order = append(order, ev.Attrs["seq"])
		}
	}
	if got := strings.Join(order, ","); !strings.HasSuffix(got, "5,6,7,8,9,10") {
		t.Errorf("stanzas reached sm as %s", got)
	}
}

// waitMetric polls /metrics until it holds line.
func waitMetric(t *testing.T, e *env, line string) {
	t.Helper()
	testkit.Eventually(t, timeout, "metric "+line, func() bool { return strings.Contains(e.get(t, "/metrics"), line) })
}

// A second session for the same resource replaces the first, which gets
// the conflict stream error; sm hears the old session end first.
func TestConflict(t *testing.T) {
	e := startEnv(t)
	id := newIdentity(t, clienttest.Options{})
	first := e.login(t, id, xmppclient.LoginOptions{Resource: "phone"})
	old, _ := e.sm.SessionByJID(first.JID())
	second := e.login(t, id, xmppclient.LoginOptions{Resource: "phone"})
	if cond, _ := expectStreamError(t, first); cond != "conflict" {
		t.Errorf("old session closed with %s", cond)
	}
	e.waitEvent(t, "the old session's end", func(ev standin.Event) bool { return ev.Action == "end" && ev.Attrs["sid"] == old.SID })
	if s, ok := e.sm.SessionByJID(second.JID()); !ok || s.SID == old.SID {
		t.Errorf("sm sessions %v", e.sm.Sessions())
	}

	// sm ends a session itself (a newer one elsewhere in the network):
	// the stream closes with its reason and c2s answers nothing.
	cur, _ := e.sm.SessionByJID(second.JID())
	if err := e.sm.End(ctxT(t), cur.SID, "conflict"); err != nil {
		t.Fatal(err)
	}
	if cond, _ := expectStreamError(t, second); cond != "conflict" {
		t.Errorf("closed by sm with %s", cond)
	}
	// Whatever c2s sends after that follows any end it would have sent.
	third := e.login(t, id, xmppclient.LoginOptions{Resource: "tablet"})
	e.waitEvent(t, "the next start", func(ev standin.Event) bool { return ev.Action == "start" && ev.Attrs["jid"] == third.JID() })
	for _, ev := range e.sm.Events() {
		if ev.Action == "end" && ev.Attrs["sid"] == cur.SID {
			t.Errorf("c2s answered sm's end: %+v", ev)
		}
	}
}

// A resumable session survives its connection: what arrives meanwhile
// is kept and delivered on resumption, and sm hears only state changes.
func TestResume(t *testing.T) {
	e := startEnv(t)
	aliceID := newIdentity(t, clienttest.Options{})
	cfg := e.config(&aliceID.Certificate, false)
	cfg.ManualAck = true
	alice, err := xmppclient.Dial(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.AuthExternal(ctxT(t), "="); err != nil {
		t.Fatal(err)
	}
	full, err := alice.Bind(ctxT(t), "phone")
	if err != nil {
		t.Fatal(err)
	}
	enabled, err := alice.EnableSM(ctxT(t), true)
	if err != nil || !enabled.Resume || enabled.ID == "" || enabled.Max != 300 {
		t.Fatalf("enable: %+v %v", enabled, err)
	}
	sess, _ := e.sm.SessionByJID(full)
	bob := e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{StreamManagement: true})
	send(t, bob, `<message to='`+full+`' id='r1' type='chat'><body>one</body></message>`)
	expectStanza(t, alice, "r1", func(el *xml.Element) bool { return el.Attr("id") == "r1" })
	alice.Abort() // the network goes, r1 unacknowledged
	e.waitEvent(t, "inactive", func(ev standin.Event) bool {
		return ev.Action == "state" && ev.Attrs["sid"] == sess.SID && ev.Attrs["csi"] == "inactive"
	})
	send(t, bob, `<message to='`+full+`' id='r2' type='chat'><body>two</body></message>`)
	e.waitEvent(t, "r2", func(ev standin.Event) bool { return ev.Action == "stanza" && ev.Inner.Attr("id") == "r2" })

	again, err := xmppclient.Dial(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Abort()
	if err := again.AuthExternal(ctxT(t), "="); err != nil {
		t.Fatal(err)
	}
	h, err := again.Resume(ctxT(t), enabled.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h != 0 {
		t.Errorf("resumed h=%d", h)
	}
	for _, id := range []string{"r1", "r2"} {
		expectStanza(t, again, id, func(el *xml.Element) bool { return el.Attr("id") == id })
	}
	if err := again.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ack := e.waitEvent(t, "the acks", func(ev standin.Event) bool { return ev.Action == "ack" && ev.Attrs["sid"] == sess.SID })
	if len(ack.Rids) != 2 {
		t.Errorf("acked %v", ack.Rids)
	}
	e.waitEvent(t, "active", func(ev standin.Event) bool {
		return ev.Action == "state" && ev.Attrs["sid"] == sess.SID && ev.Attrs["csi"] == "active"
	})
	for _, ev := range e.sm.Events() {
		if ev.Action == "end" && ev.Attrs["sid"] == sess.SID {
			t.Errorf("a resumable session ended: %+v", ev)
		}
	}
	// A session id that does not exist cannot be resumed.
	other, err := xmppclient.Dial(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Abort()
	if err := other.AuthExternal(ctxT(t), "="); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Resume(ctxT(t), "nope", 0); err == nil || !strings.Contains(err.Error(), "item-not-found") {
		t.Errorf("resume of an unknown id: %v", err)
	}
}

// A detached session that is not resumed ends at the timeout, telling sm
// how many stanzas the client never acknowledged.
func TestResumeTimeout(t *testing.T) {
	e := startEnv(t, "-resume-timeout", "1s")
	id := newIdentity(t, clienttest.Options{})
	cfg := e.config(&id.Certificate, false)
	cfg.ManualAck = true
	alice, err := xmppclient.Login(ctxT(t), cfg, xmppclient.LoginOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := e.sm.SessionByJID(alice.JID())
	for i := range 3 {
		if err := e.sm.Deliver(ctxT(t), sess.SID, fmt.Sprintf(`<message to='%s' id='d%d' type='chat'><body>x</body></message>`, alice.JID(), i), fmt.Sprintf("rid%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	expectStanza(t, alice, "d2", func(el *xml.Element) bool { return el.Attr("id") == "d2" })
	alice.Abort()
	end := e.waitEvent(t, "the end", func(ev standin.Event) bool { return ev.Action == "end" && ev.Attrs["sid"] == sess.SID })
	if end.Attrs["unacked"] != "3" {
		t.Errorf("end %+v", end.Attrs)
	}
}

// While the client is inactive, presences wait (the latest per sender)
// until a message goes out or the client is active again.
func TestCSI(t *testing.T) {
	e := startEnv(t)
	alice := e.login(t, newIdentity(t, clienttest.Options{}), xmppclient.LoginOptions{StreamManagement: true})
	sess, _ := e.sm.SessionByJID(alice.JID())
	send(t, alice, `<inactive xmlns='urn:xmpp:csi:0'/>`)
	e.waitEvent(t, "inactive", func(ev standin.Event) bool { return ev.Action == "state" && ev.Attrs["csi"] == "inactive" })
	deliver := func(stanza string) {
		if err := e.sm.Deliver(ctxT(t), sess.SID, stanza, ""); err != nil {
			t.Fatal(err)
		}
	}
	deliver(`<presence from='bob@` + network + `/a' to='` + alice.JID() + `' id='p1'><status>1</status></presence>`)
	deliver(`<presence from='carol@` + network + `/a' to='` + alice.JID() + `' id='p2'/>`)
	deliver(`<presence from='bob@` + network + `/a' to='` + alice.JID() + `' id='p3'><status>2</status></presence>`)
	deliver(`<message from='bob@` + network + `/a' to='` + alice.JID() + `' id='m1' type='chat'><body>wake up</body></message>`)
	var got []string
	for len(got) < 3 {
		el := expectStanza(t, alice, "stanzas", func(el *xml.Element) bool { return el.Local() != "a" })
		got = append(got, el.Attr("id"))
	}
	if strings.Join(got, ",") != "p2,p3,m1" {
		t.Errorf("inactive client received %v, want the latest presence per sender, then the message", got)
	}
	deliver(`<presence from='bob@` + network + `/a' to='` + alice.JID() + `' id='p4'/>`)
	send(t, alice, `<active xmlns='urn:xmpp:csi:0'/>`)
	expectStanza(t, alice, "p4 on active", func(el *xml.Element) bool { return el.Attr("id") == "p4" })
	e.waitEvent(t, "active", func(ev standin.Event) bool { return ev.Action == "state" && ev.Attrs["csi"] == "active" })
	// CSI nonzas are not stanzas: the inbound count is unchanged.
	send(t, alice, `<r xmlns='urn:xmpp:sm:3'/>`)
	if a := expectStanza(t, alice, "ack", isAck); a.Attr("h") != "0" {
		t.Errorf("h after CSI nonzas: %s", a)
	}
}

// A silent client is pinged (XEP-0199 without stream management, an
// XEP-0198 request with it) and closed when it does not answer.
func TestPing(t *testing.T) {
	e := startEnv(t, "-ping-interval", "300ms", "-ping-timeout", "500ms")
	id := newIdentity(t, clienttest.Options{})
	c := e.login(t, id, xmppclient.LoginOptions{Resource: "plain"})
	ping := expectStanza(t, c, "a ping", func(el *xml.Element) bool { return el.Local() == "iq" && el.ChildNS(xmppclient.NSPing) != nil })
	send(t, c, `<iq type='result' id='`+ping.Attr("id")+`' to='`+network+`'/>`)
	expectStanza(t, c, "the next ping", func(el *xml.Element) bool {
		return el.Local() == "iq" && el.ChildNS(xmppclient.NSPing) != nil && el.Attr("id") != ping.Attr("id")
	})
	if cond, _ := expectStreamError(t, c); cond != "connection-timeout" {
		t.Errorf("unanswered ping: %s", cond)
	}
	// The answer to c2s's ping never reached sm.
	for _, ev := range e.sm.Events() {
		if ev.Action == "stanza" && ev.Inner.Attr("id") == ping.Attr("id") {
			t.Errorf("ping answer forwarded: %+v", ev)
		}
	}

	cfg := e.config(&id.Certificate, false)
	cfg.ManualAck = true
	sm, err := xmppclient.Login(ctxT(t), cfg, xmppclient.LoginOptions{Resource: "sm", StreamManagement: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Abort()
	expectStanza(t, sm, "<r/>", func(el *xml.Element) bool { return el.Local() == "r" && el.Space == xmppclient.NSSM })
	if cond, _ := expectStreamError(t, sm); cond != "connection-timeout" {
		t.Errorf("unanswered <r/>: %s", cond)
	}
}

// Registration IQs on unauthenticated connections reach sm with what it
// needs, and its answer comes back.
func TestRegistration(t *testing.T) {
	e := startEnv(t)
	id := newIdentity(t, clienttest.Options{Certifier: otherKey})
	for _, withCert := range []bool{false, true} {
		cfg := e.config(nil, false)
		if withCert {
			cfg = e.config(&id.Certificate, false)
		}
		c, err := xmppclient.Dial(ctxT(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.IQ(ctxT(t), "set", network, `<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='phone'><value>+15555215554</value></field></x></query>`)
		if err != nil {
			t.Fatal(err)
		}
		if got := reply.Child("query", "jabber:iq:register").Child("instructions", "").Text(); got != fmt.Sprintf("cert=%v", withCert) {
			t.Errorf("reply %s", reply)
		}
		ev := e.waitEvent(t, "register", func(ev standin.Event) bool {
			return ev.Action == "register" && (ev.Attrs["cert"] != "") == withCert
		})
		if ev.Attrs["remote"] == "" || ev.Attrs["conn"] == "" || ev.From != "c2s-1."+host || ev.Inner.Local() != "iq" {
			t.Errorf("register envelope %+v", ev)
		}
		// Anything else still needs authentication.
		if _, err := c.IQ(ctxT(t), "get", network, `<query xmlns='jabber:iq:roster'/>`); err == nil || !strings.Contains(err.Error(), "not-authorized") {
			t.Errorf("roster before auth: %v", err)
		}
		c.Abort()
	}
}
