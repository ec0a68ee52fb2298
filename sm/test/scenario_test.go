package test

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
)

// TestScenarios runs what a Kontalk client does against one network;
// each scenario has users of its own.
func TestScenarios(t *testing.T) {
	n := startNetwork(t, netOptions{})
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testNetwork)
	}{
		{"online messages with receipts", onlineMessages},
		{"offline messages in order with delay", offlineMessages},
		{"receipts to a full JID are stored", fullJIDStored},
		{"message to an unknown user", unknownUser},
		{"end-to-end payload byte for byte", e2ePayload},
		{"subscription handshake with keys", subscriptionHandshake},
		{"pre-approval", preApproval},
		{"probes and last seen", probes},
		{"blocking both ways", blockingBothWays},
		{"last activity", lastActivity},
		{"disco", disco},
		{"public keys", publicKeys},
		{"version and ping", versionAndPing},
		{"roster get and versioning", rosterGet},
		{"roster match", rosterMatch},
		{"session replaced", sessionReplaced},
		{"c2s gone ends its sessions", c2sGone},
		{"auth with stored and newer keys", auth},
		{"registration not offered", registration},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, n) })
	}
}

func chat(to, id, body string) string {
	return "<message to='" + to + "' id='" + id + "' type='chat'><body>" + body + "</body><request xmlns='urn:xmpp:receipts'/></message>"
}

// onlineMessages: two online users write to each other; receipts pass
// through unchanged.
func onlineMessages(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-online"), n.login("bob-online")
	alice.Send(t, chat(bob.Bare(), "m1", "hello bob"))
	alice.Sync(t)
	got := bob.Expect(t, "hello bob")
	for _, want := range []string{"from='" + alice.JID() + "'", "to='" + bob.JID() + "'", "id='m1'", "<request xmlns='urn:xmpp:receipts'/>"} {
		if !strings.Contains(got, want) {
			t.Errorf("bob got %s, missing %s", got, want)
		}
	}
	bob.Send(t, "<message to='"+alice.Bare()+"' id='r1' type='chat'><received xmlns='urn:xmpp:receipts' id='m1'/></message>")
	alice.Expect(t, "<received xmlns='urn:xmpp:receipts' id='m1'/>", "from='"+bob.JID()+"'")
	bob.Send(t, "<message to='"+alice.Bare()+"' id='m2' type='chat'><body>hi alice</body></message>")
	alice.Expect(t, "hi alice", "id='m2'")
	// Chat states pass, and are not stored.
	alice.Send(t, "<message to='"+bob.Bare()+"' id='c1' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	bob.Expect(t, "<composing xmlns='http://jabber.org/protocol/chatstates'/>")
	// Everything acknowledged leaves the inbox.
	testkit.Eventually(t, timeout, "inboxes emptied by acks", func() bool {
		a, _ := n.store.Inbox.Len(context.Background(), phoneHash("alice-online"))
		b, _ := n.store.Inbox.Len(context.Background(), phoneHash("bob-online"))
		return a == 0 && b == 0
	})
}

// fullJIDStored: a receipt to a full JID is stored like any storable
// message: the named session gets it with its rid and the ack removes
// it; when that session is gone it waits for the user's next one.
func fullJIDStored(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-fulljid"), n.login("bob-fulljid")
	aliceU := phoneHash("alice-fulljid")
	bob.Send(t, "<message to='"+alice.JID()+"' id='r1' type='chat'><received xmlns='urn:xmpp:receipts' id='m1'/></message>")
	bob.Sync(t)
	alice.Expect(t, "<received xmlns='urn:xmpp:receipts' id='m1'/>", "to='"+alice.JID()+"'")
	testkit.Eventually(t, timeout, "the receipt acknowledged and removed", func() bool {
		l, _ := n.store.Inbox.Len(context.Background(), aliceU)
		return l == 0
	})

	alice.Close(t)
	bob.Send(t, "<message to='"+alice.JID()+"' id='r2' type='chat'><received xmlns='urn:xmpp:receipts' id='m2'/></message>")
	bob.Sync(t)
	if l, _ := n.store.Inbox.Len(context.Background(), aliceU); l != 1 {
		t.Fatalf("alice's inbox holds %d after a receipt to her closed session", l)
	}
	again := n.c2s.connect(t, aliceU, "laptop")
	again.Send(t, "<presence/>")
	got := again.Expect(t, "<received xmlns='urn:xmpp:receipts' id='m2'/>")
	if !delayRE.MatchString(got) || !strings.Contains(got, "to='"+again.JID()+"'") {
		t.Errorf("stored receipt delivered as %s", got)
	}
}

var delayRE = regexp.MustCompile(`<delay xmlns='urn:xmpp:delay' from='` + regexp.QuoteMeta(network) + `' stamp='\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z'>Offline Storage</delay>`)

// offlineMessages: five messages to a user without a session are
// delivered in order, with delay stamps, at its next login, and leave
// the inbox once acknowledged.
func offlineMessages(t *testing.T, n *testNetwork) {
	alice := n.login("alice-offline")
	bobU := n.user("bob-offline")
	bobBare := bobU + "@" + network
	for i := range 5 {
		alice.Send(t, chat(bobBare, fmt.Sprintf("off%d", i), fmt.Sprintf("offline %d", i)))
	}
	alice.Sync(t)
	if l, _ := n.store.Inbox.Len(context.Background(), bobU); l != 5 {
		t.Fatalf("bob's inbox holds %d", l)
	}
	bob := n.c2s.connect(t, bobU, "laptop")
	bob.Send(t, "<presence/>")
	var order []string
	for i := range 5 {
		got := bob.Expect(t, fmt.Sprintf("offline %d", i))
		if !delayRE.MatchString(got) {
			t.Errorf("no delay stamp in %s", got)
		}
		if !strings.Contains(got, "to='"+bob.JID()+"'") {
			t.Errorf("not addressed to the session: %s", got)
		}
	}
	for _, s := range bob.Received() {
		if m := regexp.MustCompile(`offline (\d)`).FindStringSubmatch(s); m != nil {
			order = append(order, m[1])
		}
	}
	if strings.Join(order, "") != "01234" {
		t.Fatalf("delivered in order %v", order)
	}
	// The wait and the backlog show in the metrics (the sums are over
	// every scenario so far, hence at least).
	var waited, backlog float64
	for _, p := range n.sms {
		waited += p.metric(t, "kontalk_sm_inbox_wait_seconds_count", "")
		backlog += p.metric(t, "kontalk_sm_inbox_backlog_stanzas_sum", "")
	}
	if waited < 5 || backlog < 5 {
		t.Errorf("metrics: %v stored stanzas waited, backlog sum %v", waited, backlog)
	}
	testkit.Eventually(t, timeout, "bob's inbox emptied by acks", func() bool {
		l, _ := n.store.Inbox.Len(context.Background(), bobU)
		return l == 0
	})
}

// unknownUser: a message to a user that does not exist comes back as
// item-not-found, and is not stored.
func unknownUser(t *testing.T, n *testNetwork) {
	alice := n.login("alice-unknown")
	nobody := phoneHash("nobody") + "@" + network
	alice.Send(t, chat(nobody, "u1", "anyone?"))
	got := alice.Expect(t, "type='error'", "id='u1'")
	if c := errorCondition(t, got); c != stanza.ItemNotFound {
		t.Fatalf("condition %s in %s", c, got)
	}
	// The same for an IQ, which the resolver answers.
	alice.Send(t, "<iq to='"+nobody+"' id='q1' type='get'><query xmlns='jabber:iq:version'/></iq>")
	got = alice.Expect(t, "type='error'", "id='q1'")
	if c := errorCondition(t, got); c != stanza.ItemNotFound {
		t.Fatalf("condition %s in %s", c, got)
	}
}

// e2ePayload: an encrypted payload, with everything a serializer could
// change, arrives byte for byte; only 'to' is rewritten.
func e2ePayload(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-e2e"), n.login("bob-e2e")
	body := `<body>Encrypted message</body><e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>hQEMA+/x&#xD;
PR2=</e2e>` +
		`<x:signed xmlns:x="jabber:x:signed" x:a="&quot;q&apos;">  a&amp;b &lt;c&gt; ]]&gt; <![CDATA[<raw>]]></x:signed>` +
		`<openpgp xmlns='urn:xmpp:openpgp:0'>wcBMA
  yz==</openpgp><x xmlns='jabber:x:oob'><url type='image/png' length='1' encrypted='true'>https://x/y?a=1&amp;b=2</url></x>`
	alice.Send(t, "<message to='"+bob.Bare()+"' id='e1' type='chat' xml:lang='it'>"+body+"</message>")
	got := bob.Expect(t, "id='e1'")
	want := "<message from='" + alice.JID() + "' to='" + bob.JID() + "' id='e1' type='chat' xml:lang='it'>" + body + "</message>"
	if got != want {
		t.Fatalf("payload changed:\n got %s\nwant %s", got, want)
	}
}

// subscriptionHandshake: alice asks bob, bob approves; the server
// creates both roster items and attaches alice's key to the request;
// then presence flows.
func subscriptionHandshake(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-sub"), n.login("bob-sub")
	alice.Send(t, "<presence to='"+bob.Bare()+"' type='subscribe' id='s1'/>")
	alice.Expect(t, "jabber:iq:roster", "jid='"+bob.Bare()+"'", "subscription='none'", "ask='subscribe'")
	req := bob.Expect(t, "type='subscribe'")
	key := base64.StdEncoding.EncodeToString([]byte("public key of alice-sub"))
	for _, want := range []string{"from='" + alice.Bare() + "'", "<pubkey xmlns='urn:xmpp:pubkey:2'><key>" + key + "</key><print>" + fingerprint("alice-sub") + "</print></pubkey>"} {
		if !strings.Contains(req, want) {
			t.Fatalf("subscribe %s lacks %s", req, want)
		}
	}
	bob.Send(t, "<presence to='"+alice.Bare()+"' type='subscribed'/>")
	bob.Expect(t, "jabber:iq:roster", "jid='"+alice.Bare()+"'", "subscription='from'")
	alice.Expect(t, "type='subscribed'", "from='"+bob.Bare()+"'")
	alice.Expect(t, "jabber:iq:roster", "jid='"+bob.Bare()+"'", "subscription='to'")
	// Approving sends bob's presence, with his fingerprint.
	alice.Expect(t, "<presence", "from='"+bob.JID()+"'", "<print>"+fingerprint("bob-sub")+"</print>")
	// And the other way round.
	bob.Send(t, "<presence to='"+alice.Bare()+"' type='subscribe'/>")
	alice.Expect(t, "type='subscribe'", "<print>"+fingerprint("bob-sub")+"</print>")
	alice.Send(t, "<presence to='"+bob.Bare()+"' type='subscribed'/>")
	alice.Expect(t, "jabber:iq:roster", "jid='"+bob.Bare()+"'", "subscription='both'")
	bob.Expect(t, "jabber:iq:roster", "jid='"+alice.Bare()+"'", "subscription='both'")
	// A later presence of bob reaches alice.
	bob.Send(t, "<presence><status>busy</status></presence>")
	got := alice.Expect(t, "<status>busy</status>")
	if !strings.Contains(got, "from='"+bob.JID()+"'") || !strings.Contains(got, "<print>"+fingerprint("bob-sub")+"</print>") {
		t.Fatalf("presence %s", got)
	}
	// Unsubscribing is seen on both sides.
	alice.Send(t, "<presence to='"+bob.Bare()+"' type='unsubscribe'/>")
	alice.Expect(t, "jabber:iq:roster", "jid='"+bob.Bare()+"'", "subscription='from'")
	bob.Expect(t, "type='unsubscribe'")
	bob.Expect(t, "jabber:iq:roster", "jid='"+alice.Bare()+"'", "subscription='to'")
}

// preApproval: bob approves alice before she asks (RFC 6121 §3.4); her
// request is then answered by the server and never shown to bob.
func preApproval(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-pre"), n.login("bob-pre")
	bob.Send(t, "<presence to='"+alice.Bare()+"' type='subscribed'/>")
	bob.Expect(t, "jabber:iq:roster", "jid='"+alice.Bare()+"'", "approved='true'")
	alice.Send(t, "<presence to='"+bob.Bare()+"' type='subscribe'/>")
	alice.Expect(t, "type='subscribed'", "from='"+bob.Bare()+"'")
	alice.Expect(t, "jabber:iq:roster", "jid='"+bob.Bare()+"'", "subscription='to'")
	bob.Expect(t, "jabber:iq:roster", "jid='"+alice.Bare()+"'", "subscription='from'")
	for _, s := range bob.Received() {
		if strings.Contains(s, "type='subscribe'") {
			t.Fatalf("bob saw the pre-approved request: %s", s)
		}
	}
}

// subscribe makes a and b subscribed to each other.
func subscribe(t *testing.T, a, b Client) {
	t.Helper()
	a.Send(t, "<presence to='"+b.Bare()+"' type='subscribe'/>")
	b.Expect(t, "type='subscribe'")
	b.Send(t, "<presence to='"+a.Bare()+"' type='subscribed'/>")
	a.Expect(t, "jabber:iq:roster", "subscription='to'")
	b.Send(t, "<presence to='"+a.Bare()+"' type='subscribe'/>")
	a.Expect(t, "type='subscribe'")
	a.Send(t, "<presence to='"+b.Bare()+"' type='subscribed'/>")
	b.Expect(t, "jabber:iq:roster", "subscription='both'")
	a.Expect(t, "jabber:iq:roster", "subscription='both'")
}

// probes: a subscribed contact's probe gets the presence; an offline
// contact's answer is unavailable with the last logout; nobody else gets
// anything.
func probes(t *testing.T, n *testNetwork) {
	alice, bob, carol := n.login("alice-probe"), n.login("bob-probe"), n.login("carol-probe")
	subscribe(t, alice, bob)
	alice.Send(t, "<presence type='probe' to='"+bob.Bare()+"' id='p1'/>")
	got := alice.Expect(t, "<presence", "from='"+bob.JID()+"'", "to='"+alice.JID()+"'")
	if !strings.Contains(got, "<print>"+fingerprint("bob-probe")+"</print>") {
		t.Fatalf("probe answer %s", got)
	}
	// carol is not subscribed: her probe is ignored. Her own later
	// presence to herself shows the probe was handled first.
	carol.Send(t, "<presence type='probe' to='"+bob.Bare()+"' id='p2'/>")
	carol.Send(t, "<presence type='probe' to='"+carol.Bare()+"' id='p3'/>")
	carol.Expect(t, "from='"+carol.JID()+"'", "to='"+carol.JID()+"'")
	for _, s := range carol.Received() {
		if strings.Contains(s, "from='"+bob.JID()+"'") {
			t.Fatalf("carol got bob's presence: %s", s)
		}
	}
	// bob logs out: alice sees him unavailable with the logout time, and
	// a probe now says the same.
	bob.Close(t)
	got = alice.Expect(t, "type='unavailable'", "from='"+bob.JID()+"'")
	if !strings.Contains(got, "<delay xmlns='urn:xmpp:delay'") {
		t.Fatalf("unavailable without last seen: %s", got)
	}
	alice.Send(t, "<presence type='probe' to='"+bob.Bare()+"'/>")
	got = alice.Expect(t, "type='unavailable'", "from='"+bob.Bare()+"'")
	if !strings.Contains(got, "<delay xmlns='urn:xmpp:delay'") {
		t.Fatalf("probe of an offline contact: %s", got)
	}
}

// blockingBothWays: bob blocks alice; nothing passes either way, and
// each side learns why; unblocking restores it.
func blockingBothWays(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-block"), n.login("bob-block")
	subscribe(t, alice, bob)
	bob.Send(t, "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='"+alice.Bare()+"'/></block></iq>")
	bob.Expect(t, "type='result'", "id='b1'")
	bob.Expect(t, "type='set'", "<block xmlns='urn:xmpp:blocking'><item jid='"+alice.Bare()+"'/></block>")
	// Blocking sends alice bob's unavailable presence.
	alice.Expect(t, "type='unavailable'", "from='"+bob.JID()+"'")
	bob.Send(t, "<iq type='get' id='b2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	bob.Expect(t, "id='b2'", "<item jid='"+alice.Bare()+"'/>")

	// alice → bob: refused by bob's list, not stored.
	alice.Send(t, chat(bob.Bare(), "x1", "let me in"))
	got := alice.Expect(t, "type='error'", "id='x1'")
	if c := errorCondition(t, got); c != stanza.ServiceUnavailable {
		t.Fatalf("condition %s", c)
	}
	if l, _ := n.store.Inbox.Len(context.Background(), phoneHash("bob-block")); l != 0 {
		t.Fatalf("blocked message stored: %d", l)
	}
	// bob → alice: refused by his own list, with the XEP-0191 condition.
	bob.Send(t, chat(alice.Bare(), "x2", "hello?"))
	got = bob.Expect(t, "type='error'", "id='x2'")
	if !strings.Contains(got, "<blocked xmlns='urn:xmpp:blocking:errors'/>") || errorCondition(t, got) != stanza.NotAcceptable {
		t.Fatalf("error %s", got)
	}
	// Presence: bob's is not sent to alice; alice's does not reach bob,
	// except unavailable, which always passes (and shows the order).
	bob.Send(t, "<presence><status>hidden</status></presence>")
	alice.Send(t, "<presence><status>unseen</status></presence>")
	alice.Send(t, "<presence type='unavailable'/>")
	bob.Expect(t, "type='unavailable'", "from='"+alice.JID()+"'")
	alice.Send(t, "<presence/>")
	for _, s := range bob.Received() {
		if strings.Contains(s, "unseen") || strings.Contains(s, "let me in") {
			t.Fatalf("bob got a blocked stanza: %s", s)
		}
	}
	bob.Send(t, "<iq type='set' id='b3'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	bob.Expect(t, "type='result'", "id='b3'")
	bob.Expect(t, "<unblock xmlns='urn:xmpp:blocking'/>")
	alice.Expect(t, "<status>hidden</status>", "from='"+bob.JID()+"'")
	alice.Send(t, chat(bob.Bare(), "x3", "thanks"))
	bob.Expect(t, "thanks")
	for _, s := range alice.Received() {
		if strings.Contains(s, "hello?") {
			t.Fatalf("alice got a blocked message: %s", s)
		}
	}
}

var secondsRE = regexp.MustCompile(`seconds='(\d+)'`)

// lastActivity: the domain's uptime, a subscribed contact's time since
// logout, refusals for others, item-not-found for unknown users.
func lastActivity(t *testing.T, n *testNetwork) {
	alice, bob, carol := n.login("alice-last"), n.login("bob-last"), n.login("carol-last")
	subscribe(t, alice, bob)
	alice.Send(t, "<iq type='get' to='"+network+"' id='l1'><query xmlns='jabber:iq:last'/></iq>")
	got := alice.Expect(t, "id='l1'", "type='result'")
	if !strings.Contains(got, "from='"+network+"'") || !secondsRE.MatchString(got) {
		t.Fatalf("domain last activity %s", got)
	}
	alice.Send(t, "<iq type='get' to='"+bob.Bare()+"' id='l2'><query xmlns='jabber:iq:last'/></iq>")
	got = alice.Expect(t, "id='l2'")
	if !strings.Contains(got, "seconds='0'") || !strings.Contains(got, "from='"+bob.Bare()+"'") {
		t.Fatalf("online contact %s", got)
	}
	bob.Send(t, "<presence type='unavailable'><status>gone fishing</status></presence>")
	bob.Close(t)
	testkit.Eventually(t, timeout, "bob's logout recorded", func() bool {
		u, err := n.store.Users.Get(context.Background(), phoneHash("bob-last"))
		return err == nil && !u.Seen.IsZero()
	})
	alice.Send(t, "<iq type='get' to='"+bob.Bare()+"' id='l3'><query xmlns='jabber:iq:last'/></iq>")
	got = alice.Expect(t, "id='l3'", "type='result'")
	if !secondsRE.MatchString(got) || !strings.Contains(got, "gone fishing") {
		t.Fatalf("offline contact %s", got)
	}
	carol.Send(t, "<iq type='get' to='"+bob.Bare()+"' id='l4'><query xmlns='jabber:iq:last'/></iq>")
	if c := errorCondition(t, carol.Expect(t, "id='l4'")); c != stanza.Forbidden {
		t.Fatalf("unsubscribed asker: %s", c)
	}
	alice.Send(t, "<iq type='get' to='"+phoneHash("deleted")+"@"+network+"' id='l5'><query xmlns='jabber:iq:last'/></iq>")
	if c := errorCondition(t, alice.Expect(t, "id='l5'")); c != stanza.ItemNotFound {
		t.Fatalf("unknown user: %s", c)
	}
}

// disco: the domain's features, and its items with a connected upload
// component.
func disco(t *testing.T, n *testNetwork) {
	alice := n.login("alice-disco")
	alice.Send(t, "<iq type='get' to='"+network+"' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	got := alice.Expect(t, "id='d1'", "type='result'")
	for _, f := range []string{"urn:xmpp:blocking", "jabber:iq:last", "urn:xmpp:ping", "urn:xmpp:pubkey:2", "jabber:iq:version", "<identity category='server' type='im'"} {
		if !strings.Contains(got, f) {
			t.Errorf("disco#info lacks %s: %s", f, got)
		}
	}
	// An upload component appears among the items while connected.
	upload := startStandin(t, n.routerAddr, "media."+network)
	alice.Send(t, "<iq type='get' to='"+network+"' id='d2'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	got = alice.Expect(t, "id='d2'", "type='result'")
	for _, item := range []string{"jid='probe@" + network + "'", "jid='media." + network + "'"} {
		if !strings.Contains(got, item) {
			t.Errorf("disco#items lacks %s: %s", item, got)
		}
	}
	upload.stop()
	alice.Send(t, "<iq type='get' to='probe@"+network+"' id='d3'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	alice.Expect(t, "id='d3'", "from='probe@"+network+"'", "http://kontalk.org/extensions/roster")
	// The same questions from outside the network's clients, through the
	// resolver.
	ext := startStandin(t, n.routerAddr, "external.example")
	got = ext.ask(t, "<iq type='get' from='someone@external.example/x' to='"+network+"' id='d4'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !strings.Contains(got, "from='"+network+"'") || !strings.Contains(got, "urn:xmpp:blocking") {
		t.Fatalf("disco from outside: %s", got)
	}
}

// publicKeys: a contact's key, the user's own, the server's.
func publicKeys(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-key"), n.login("bob-key")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	alice.Send(t, "<iq type='get' to='"+bob.Bare()+"' id='k1'><pubkey xmlns='urn:xmpp:pubkey:2'/></iq>")
	got := alice.Expect(t, "id='k1'")
	if !strings.Contains(got, "<pubkey xmlns='urn:xmpp:pubkey:2'>"+b64("public key of bob-key")+"</pubkey>") || !strings.Contains(got, "from='"+bob.Bare()+"'") {
		t.Fatalf("contact key %s", got)
	}
	alice.Send(t, "<iq type='get' to='"+alice.Bare()+"' id='k2'><pubkey xmlns='urn:xmpp:pubkey:2'/></iq>")
	if got := alice.Expect(t, "id='k2'"); !strings.Contains(got, b64("public key of alice-key")) {
		t.Fatalf("own key %s", got)
	}
	alice.Send(t, "<iq type='get' to='"+network+"' id='k3'><pubkey xmlns='urn:xmpp:pubkey:2'/></iq>")
	got = alice.Expect(t, "id='k3'")
	if !strings.Contains(got, base64.StdEncoding.EncodeToString(serverKey.Public().Ring())) || !strings.Contains(got, "from='"+network+"'") {
		t.Fatalf("server key %s", got)
	}
}

func versionAndPing(t *testing.T, n *testNetwork) {
	alice := n.login("alice-ping")
	alice.Send(t, "<iq type='get' to='"+network+"' id='v1'><query xmlns='jabber:iq:version'/></iq>")
	alice.Expect(t, "id='v1'", "<name>Kontalk</name>")
	alice.Send(t, "<iq type='get' to='"+network+"' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
	alice.Expect(t, "id='p1'", "type='result'")
	alice.Send(t, "<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
	alice.Expect(t, "id='p2'", "type='result'")
	alice.Send(t, "<iq type='get' to='a@@b' id='j1'><ping xmlns='urn:xmpp:ping'/></iq>")
	if c := errorCondition(t, alice.Expect(t, "id='j1'")); c != stanza.JIDMalformed {
		t.Fatalf("malformed address: %s", c)
	}
	alice.Send(t, "<iq type='get' to='"+network+"' id='u1'><query xmlns='urn:example:nothing'/></iq>")
	if c := errorCondition(t, alice.Expect(t, "id='u1'")); c != stanza.ServiceUnavailable {
		t.Fatalf("unknown namespace: %s", c)
	}
}

// rosterGet: the roster as subscriptions made it, and versioning.
func rosterGet(t *testing.T, n *testNetwork) {
	alice, bob := n.login("alice-roster"), n.login("bob-roster")
	subscribe(t, alice, bob)
	alice.Send(t, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	got := alice.Expect(t, "id='r1'", "type='result'")
	if !strings.Contains(got, "<item jid='"+bob.Bare()+"' subscription='both'/>") {
		t.Fatalf("roster %s", got)
	}
	ver := regexp.MustCompile(`ver='(\d+)'`).FindStringSubmatch(got)
	if ver == nil {
		t.Fatalf("no version in %s", got)
	}
	alice.Send(t, "<iq type='get' id='r2'><query xmlns='jabber:iq:roster' ver='"+ver[1]+"'/></iq>")
	if got := alice.Expect(t, "id='r2'", "type='result'"); strings.Contains(got, "<item") {
		t.Fatalf("unchanged roster sent again: %s", got)
	}
	alice.Send(t, "<iq type='set' id='r3'><query xmlns='jabber:iq:roster'><item jid='"+bob.Bare()+"' name='Bob'><group>Friends</group></item></query></iq>")
	alice.Expect(t, "id='r3'", "type='result'")
	alice.Expect(t, "type='set'", "name='Bob'", "<group>Friends</group>", "subscription='both'")
}

// rosterMatch: contact discovery at probe@N.
func rosterMatch(t *testing.T, n *testNetwork) {
	alice := n.login("alice-match")
	bob := n.user("bob-match")
	stranger := phoneHash("stranger")
	alice.Send(t, "<iq type='get' to='probe@"+network+"' id='rm1'><query xmlns='http://kontalk.org/extensions/roster'>"+
		"<item jid='"+bob+"@"+network+"'/><item jid='"+stranger+"@"+network+"'/></query></iq>")
	got := alice.Expect(t, "id='rm1'", "type='result'")
	if !strings.Contains(got, "<item jid='"+bob+"@"+network+"'/>") || strings.Contains(got, stranger) {
		t.Fatalf("roster match %s", got)
	}
}

// sessionReplaced: a second session with the same full JID ends the
// first with conflict.
func sessionReplaced(t *testing.T, n *testNetwork) {
	u := n.user("alice-conflict")
	first := n.c2s.connect(t, u, "phone")
	second := n.c2s.connect(t, u, "phone")
	if !first.wait(timeout, func() bool { return first.ended == "conflict" }) {
		t.Fatalf("first session not ended with conflict: %q", first.ended)
	}
	second.Send(t, "<iq type='get' id='c1'><ping xmlns='urn:xmpp:ping'/></iq>")
	second.Expect(t, "id='c1'", "type='result'")
}

// c2sGone: when a c2s instance goes away, its sessions end and their
// contacts see them unavailable.
func c2sGone(t *testing.T, n *testNetwork) {
	bob := n.login("bob-gone")
	other := startStandin(t, n.routerAddr, "c2s-2."+host)
	alice := other.connect(t, n.user("alice-gone"), "phone")
	alice.Send(t, "<presence/>")
	alice.Sync(t)
	subscribe(t, alice, bob)
	other.stop()
	got := bob.Expect(t, "type='unavailable'", "from='"+alice.JID()+"'")
	if !strings.Contains(got, "urn:xmpp:delay") {
		t.Fatalf("no last seen in %s", got)
	}
	testkit.Eventually(t, timeout, "alice's session removed", func() bool {
		all, err := n.store.Sessions.All(context.Background(), phoneHash("alice-gone"))
		return err == nil && len(all) == 0
	})
}

// auth: a certified key creates the account; the same key, and a newer
// one, log in; an older one no longer does.
func auth(t *testing.T, n *testNetwork) {
	if ok, why := n.c2s.auth(t, authUser, keyOld); !ok {
		t.Fatalf("first login refused: %s", why)
	}
	u, err := n.store.Users.Get(context.Background(), authUser)
	if err != nil || u.Home != host {
		t.Fatalf("account not created: %+v %v", u, err)
	}
	if ok, why := n.c2s.auth(t, authUser, keyOld); !ok {
		t.Fatalf("same key refused: %s", why)
	}
	if ok, why := n.c2s.auth(t, authUser, keyNew); !ok {
		t.Fatalf("newer key refused: %s", why)
	}
	if ok, _ := n.c2s.auth(t, authUser, keyOld); ok {
		t.Fatal("older key accepted after a newer one")
	}
	if ok, _ := n.c2s.auth(t, newUser, keyNew); ok {
		t.Fatal("another user's key accepted")
	}
	if ok, why := n.c2s.auth(t, newUser, keyOther); !ok {
		t.Fatalf("new user refused: %s", why)
	}
	if ok, _ := n.c2s.auth(t, newUser, []byte("not a key")); ok {
		t.Fatal("garbage accepted")
	}
}

func registration(t *testing.T, n *testNetwork) {
	r := n.c2s.request(t, &envelope.Envelope{To: host, Action: envelope.ActionRegister, Stanza: mustTop([]byte("<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>"))})
	if r.Stanza == nil || !strings.Contains(string(r.Stanza.Raw), "not-allowed") || !strings.Contains(string(r.Stanza.Raw), "id='reg1'") {
		t.Fatalf("register answer %+v", r)
	}
}

// ask sends a stanza as a component and waits for the answer with the
// same id.
func (s *standin) ask(t testing.TB, raw string) string {
	t.Helper()
	top, err := xml.ParseTop([]byte(raw), xml.Scope{Default: "jabber:component:accept"})
	if err != nil {
		t.Fatal(err)
	}
	id := top.Value("id")
	ch := make(chan string, 1)
	s.mu.Lock()
	s.plain = func(got *xml.Top) {
		if got.Value("id") == id {
			select {
			case ch <- string(got.Raw):
			default:
			}
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.comp.Send(ctx, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch:
		return got
	case <-time.After(timeout):
		t.Fatalf("no answer to %s", raw)
		return ""
	}
}
