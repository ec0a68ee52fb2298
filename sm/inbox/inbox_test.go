package inbox_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/inbox"
)

func TestStorable(t *testing.T) {
	for s, want := range map[string]bool{
		"<message to='b@n' type='chat'><body>x</body></message>":                                             true,
		"<message to='b@n'><body>x</body></message>":                                                         true,
		"<message to='b@n' type='normal'><request xmlns='urn:xmpp:receipts'/></message>":                     true,
		"<message to='b@n' type='chat'><received xmlns='urn:xmpp:receipts' id='1'/></message>":               true,
		"<message to='b@n' type='chat'><x xmlns='jabber:x:signed'>sig</x></message>":                         true,
		"<message to='b@n/r' type='chat'><body>x</body></message>":                                           true,
		"<message to='b@n/r' type='chat'><received xmlns='urn:xmpp:receipts' id='1'/></message>":             true,
		"<message to='b@n' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>": false,
		"<message to='b@n' type='groupchat'><body>x</body></message>":                                        false,
		"<message to='b@n' type='error'><body>x</body></message>":                                            false,
		"<message to='b@n' type='headline'><body>x</body></message>":                                         false,
		"<message to='n' type='chat'><body>x</body></message>":                                               false,
		"<presence to='b@n' type='subscribe'/>":                                                              true,
		"<presence to='b@n' type='unsubscribed'/>":                                                           true,
		"<presence to='b@n' type='probe'/>":                                                                  false,
		"<presence to='b@n'/>":                                                                               false,
		"<iq to='b@n' type='set'><body>x</body></iq>":                                                        false,
	} {
		if got := inbox.Storable(coretest.Parse(t, s)); got != want {
			t.Errorf("Storable(%s) = %v", s, got)
		}
	}
}

// TestSendAndDeliver stores messages for an offline user, refuses those
// that must not be stored, and delivers the stored ones in order with a
// delay stamp, filtering what the user blocked since.
func TestSendAndDeliver(t *testing.T) {
	env, rec := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	ib := inbox.New(env)
	bob := coretest.User(t, env, "bob")
	send := func(from, id, body string) store.PutResult {
		t.Helper()
		st := coretest.Parse(t, "<message from='"+from+"' to='"+bob+"' id='"+id+"' type='chat'><body>"+body+"</body></message>")
		res, err := ib.Send(ctx, st, st.Top.Raw)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i, body := range []string{"one", "two", "three"} {
		if res := send("alice@"+coretest.Network+"/phone", string(rune('a'+i)), body); res != store.Stored {
			t.Fatalf("send %s: %v", body, res)
		}
	}
	if res := send("alice@"+coretest.Network+"/laptop", "a", "one again"); res != store.Duplicate {
		t.Fatalf("resent message: %v", res)
	}
	if routed := coretest.Find(rec.Take(), "route"); len(routed) != 4 {
		t.Fatalf("routed %d", len(routed))
	}
	env.Store.Blocking.Add(ctx, "bob", []string{"eve@" + coretest.Network})
	if res := send("eve@"+coretest.Network+"/x", "e", "spam"); res != store.BlockedSender {
		t.Fatalf("blocked sender: %v", res)
	}
	if res := send("carol@"+coretest.Network+"/x", "c", "from carol"); res != store.Stored {
		t.Fatal(res)
	}
	// bob blocks carol after she wrote: her message is not delivered.
	env.Store.Blocking.Add(ctx, "bob", []string{"carol@" + coretest.Network})
	st := coretest.Parse(t, "<message from='x@"+coretest.Network+"' to='nobody@"+coretest.Network+"' id='n' type='chat'><body>x</body></message>")
	if res, _ := ib.Send(ctx, st, st.Top.Raw); res != store.UnknownUser {
		t.Fatalf("unknown user: %v", res)
	}
	rec.Take()

	sess := coretest.Session(t, env, "bob", "phone")
	n, err := ib.Deliver(ctx, sess, time.Time{}, nil)
	if err != nil || n != 3 {
		t.Fatalf("Deliver: %d %v", n, err)
	}
	got := coretest.Find(rec.Take(), "deliver")
	stamp := regexp.MustCompile(`<delay xmlns='urn:xmpp:delay' from='kontalk.test' stamp='[^']+'>Offline Storage</delay></message>$`)
	for i, body := range []string{"one", "two", "three"} {
		if !strings.Contains(got[i].Raw, body) || !stamp.MatchString(got[i].Raw) || got[i].RID == "" ||
			!strings.Contains(got[i].Raw, "to='bob@kontalk.test/phone'") {
			t.Errorf("delivery %d: %+v", i, got[i])
		}
	}
	if l, _ := env.Store.Inbox.Len(ctx, "bob"); l != 3 {
		t.Fatalf("inbox %d after delivery (carol's removed, the rest kept until acked)", l)
	}
	ib.Ack(ctx, "bob", []string{got[0].RID, got[1].RID})
	if l, _ := env.Store.Inbox.Len(ctx, "bob"); l != 1 {
		t.Fatalf("inbox %d after acks", l)
	}
	// A filter drops entries.
	n, _ = ib.Deliver(ctx, sess, time.Time{}, func(_ context.Context, _ *core.Session, _ *core.Stanza, _ string) (bool, error) { return false, nil })
	if l, _ := env.Store.Inbox.Len(ctx, "bob"); n != 0 || l != 0 {
		t.Fatalf("filter: %d delivered, %d left", n, l)
	}
}
