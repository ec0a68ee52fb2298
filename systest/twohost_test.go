package systest

import (
	"context"
	"fmt"
	"testing"

	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient"
)

// networkOnlyS2S are the s2s flags of hosts without federation: no TLS
// certificate is needed, since links inside the network authenticate
// with the server key.
var networkOnlyS2S = []string{"-require-tls=false"}

// waitStored asks the server for an XEP-0198 acknowledgement and waits
// until it covers every stanza c sent: messages to users of the network
// are then in their inboxes.
func waitStored(t *testing.T, c *xmppclient.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.RequestAck(ctx); err != nil {
		t.Fatal(err)
	}
	sent := c.Sent()
	if _, err := c.Expect(ctx, func(e *xml.Element) bool {
		return e.Space == xmppclient.NSSM && e.Local() == "a" && c.Acked() >= sent
	}); err != nil {
		t.Fatalf("%s: waiting for the server to acknowledge %d stanzas: %v", c.JID(), sent, err)
	}
}

// Two hosts P and Q of one network, each with its own router, resolver,
// sm, c2s and s2s, share one Redis. Alice on P and Bob on Q exchange
// messages and receipts through both s2s; a message for Bob while he is
// offline is stored, and he gets it when he logs in on P.
func TestTwoHosts(t *testing.T) {
	rds := testkit.StartRedis(t, testkit.RedisOptions{AppendOnly: true})
	p := startHost(t, hostOptions{name: "p." + network, redis: rds, s2s: true, s2sArgs: networkOnlyS2S})
	q := startHost(t, hostOptions{name: "q." + network, redis: rds, s2s: true, s2sArgs: networkOnlyS2S})

	alice, bob := newUser(t), newUser(t)
	a := p.login(t, alice, "phone")
	b := q.login(t, bob, "laptop")
	send(t, a, "<presence/>")
	send(t, b, "<presence/>")

	for _, dir := range []struct {
		from, to   *xmppclient.Client
		toJID, tag string
	}{{a, b, bob.JID, "pq"}, {b, a, alice.JID, "qp"}} {
		send(t, dir.from, fmt.Sprintf(`<message to='%s' id='%s-m' type='chat'><body>across %s</body><request xmlns='urn:xmpp:receipts'/></message>`,
			dir.toJID, dir.tag, dir.tag))
		got := expect(t, dir.to, "id='"+dir.tag+"-m'", "across "+dir.tag)
		if from := got.Attr("from"); from != dir.from.JID() {
			t.Errorf("%s: from = %q, want %q", dir.tag, from, dir.from.JID())
		}
		send(t, dir.to, fmt.Sprintf(`<message to='%s' id='%s-r'><received xmlns='urn:xmpp:receipts' id='%s-m'/></message>`,
			got.Attr("from"), dir.tag, dir.tag))
		expect(t, dir.from, "id='"+dir.tag+"-r'", "<received")
	}

	// Bob acknowledges what he read and leaves; Alice's message waits in
	// his inbox, and he reads it on the other host.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := b.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, a, fmt.Sprintf(`<message to='%s' id='offline-1' type='chat'><body>while you were away</body></message>`, bob.JID))
	waitStored(t, a)
	b = p.login(t, bob, "laptop")
	send(t, b, "<presence/>")
	got := expect(t, b, "id='offline-1'", "while you were away")
	if got.Child("delay", "urn:xmpp:delay") == nil {
		t.Errorf("stored message without a delay stamp: %s", got)
	}
}

// Alice on P and Bob on Q exchange 600 messages while P's s2s, and then
// Q's, are killed with SIGKILL and started again: every acknowledged
// message crosses once the link is back.
func TestTwoHostsS2SRestart(t *testing.T) {
	rds := testkit.StartRedis(t, testkit.RedisOptions{AppendOnly: true})
	o := faultOptions
	o.redis, o.s2s, o.s2sArgs, o.sms = rds, true, networkOnlyS2S, 1
	o.name = "p." + network
	p := startHost(t, o)
	o.name = "q." + network
	q := startHost(t, o)
	x := newExchange(t, p, q)
	for i, h := range []*host{p, q} {
		x.outage("s2s of "+h.name, 200*(i+1), 20, func() { h.kill("s2s") }, func() { h.restart(t, "s2s") })
	}
	x.run(600)
	x.checkDelivered()
}
