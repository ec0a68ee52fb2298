package systest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient"
)

// expect reads stanzas until one contains every substring.
func expect(t *testing.T, c *xmppclient.Client, substrs ...string) *xml.Element {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	el, err := c.Expect(ctx, func(e *xml.Element) bool {
		s := e.String()
		for _, sub := range substrs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("%s: waiting for %q: %v", c.JID(), substrs, err)
	}
	return el
}

func send(t *testing.T, c *xmppclient.Client, raw string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Send(ctx, []byte(raw)); err != nil {
		t.Fatalf("%s: send: %v", c.JID(), err)
	}
}

// Alice and Bob, both online, exchange a message and its receipt through
// the real c2s, sm, router and resolver; then Bob goes offline, Alice
// writes five messages, and Bob gets them in order with delay stamps when
// he logs in again.
func TestMessaging(t *testing.T) {
	h := startHost(t, hostOptions{sms: 2})
	alice, bob := newUser(t), newUser(t)
	a := h.login(t, alice, "phone")
	b := h.login(t, bob, "laptop")
	send(t, a, "<presence/>")
	send(t, b, "<presence/>")

	send(t, a, fmt.Sprintf(`<message to='%s' id='m1' type='chat'><body>hello bob</body><request xmlns='urn:xmpp:receipts'/>`+
		`<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>hQEMA+abc==</e2e></message>`, bob.JID))
	got := expect(t, b, "id='m1'", "hello bob")
	if from := got.Attr("from"); from != alice.JID+"/phone" {
		t.Errorf("from = %q", from)
	}
	if e := got.Child("e2e", "urn:ietf:params:xml:ns:xmpp-e2e"); e == nil || e.Text() != "hQEMA+abc==" {
		t.Errorf("e2e payload: %v", got)
	}
	send(t, b, fmt.Sprintf(`<message to='%s' id='r1' type='chat'><received xmlns='urn:xmpp:receipts' id='m1'/></message>`, got.Attr("from")))
	expect(t, a, "id='r1'", "<received")

	// Bob acknowledges what he read before leaving, as clients do when
	// the server asks (<r/>); what he did not acknowledge would come
	// again at his next login.
	ackCtx, ackCancel := context.WithTimeout(context.Background(), timeout)
	defer ackCancel()
	if err := b.Ack(ackCtx); err != nil {
		t.Fatal(err)
	}
	b.Close(ackCtx)
	for i := range 5 {
		send(t, a, fmt.Sprintf(`<message to='%s' id='off%d' type='chat'><body>offline %d</body></message>`, bob.JID, i, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := a.RequestAck(ctx); err != nil {
		t.Fatal(err)
	}
	b = h.login(t, bob, "laptop")
	send(t, b, "<presence/>")
	// In order: the first five messages Bob reads are these.
	for i := 0; i < 5; {
		m, err := b.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Local() != "message" {
			continue
		}
		if id := m.Attr("id"); id != fmt.Sprintf("off%d", i) {
			t.Fatalf("message %d: got id %q (%s)", i, id, m)
		}
		if m.Child("delay", "urn:xmpp:delay") == nil {
			t.Errorf("offline message %d without a delay stamp: %s", i, m)
		}
		i++
	}
}
