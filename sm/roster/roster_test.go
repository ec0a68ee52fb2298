package roster_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/inbox"
	"github.com/kontalk/xmppd/sm/presence"
	"github.com/kontalk/xmppd/sm/roster"
)

type fixture struct {
	t   *testing.T
	env *core.Env
	rec *coretest.Recorder
	r   *roster.Roster
}

func newFixture(t *testing.T) *fixture {
	env, rec := coretest.NewEnv(t)
	ib := inbox.New(env)
	return &fixture{t: t, env: env, rec: rec, r: roster.New(env, ib, presence.New(env))}
}

func (f *fixture) item(u, contact string) *store.Item {
	f.t.Helper()
	it, err := f.env.Store.Rosters.Item(coretest.Context(f.t), u, contact)
	if err != nil {
		return nil
	}
	return it
}

func (f *fixture) outbound(s *core.Session, typ, to string) []coretest.Sent {
	f.t.Helper()
	st := coretest.Parse(f.t, "<presence from='"+f.env.FullJID(s)+"' to='"+to+"' type='"+typ+"'/>")
	if err := f.r.Outbound(coretest.Context(f.t), s, st); err != nil {
		f.t.Fatal(err)
	}
	return f.rec.Take()
}

func (f *fixture) inbound(u, typ, from string) bool {
	f.t.Helper()
	st := coretest.Parse(f.t, "<presence from='"+from+"' to='"+f.env.UserJID(u)+"' type='"+typ+"' id='x'/>")
	deliver, err := f.r.Inbound(coretest.Context(f.t), u, st, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return deliver
}

func TestSubscriptionHandshake(t *testing.T) {
	f := newFixture(t)
	alice, bob := coretest.User(t, f.env, "alice"), coretest.User(t, f.env, "bob")
	as := coretest.Session(t, f.env, "alice", "phone")
	bs := coretest.Session(t, f.env, "bob", "phone")

	sent := f.outbound(as, "subscribe", bob)
	if it := f.item("alice", bob); it == nil || it.Sub != store.SubNone || it.Ask != "subscribe" {
		t.Fatalf("alice's item %+v", it)
	}
	key := base64.StdEncoding.EncodeToString([]byte("key of alice"))
	if r := coretest.Find(sent, "route", "type='subscribe'", "from='"+alice+"'", "<key>"+key+"</key><print>ALICEFP</print>"); len(r) != 1 {
		t.Fatalf("routed %+v", sent)
	}
	if p := coretest.Find(sent, "deliver", "jabber:iq:roster", "ask='subscribe'"); len(p) != 1 {
		t.Fatalf("no roster push: %+v", sent)
	}
	if l, _ := f.env.Store.Inbox.Len(coretest.Context(t), "bob"); l != 1 {
		t.Fatalf("subscribe not stored: %d", l)
	}
	if !f.inbound("bob", "subscribe", alice) {
		t.Fatal("request not delivered to bob")
	}
	if it := f.item("bob", alice); it == nil || !it.In || it.Visible() {
		t.Fatalf("bob's pending item %+v", it)
	}
	sent = f.outbound(bs, "subscribed", alice)
	if it := f.item("bob", alice); it.Sub != store.SubFrom || it.In {
		t.Fatalf("bob's item after approval %+v", it)
	}
	if r := coretest.Find(sent, "route", "type='subscribed'", "from='"+bob+"'"); len(r) != 1 {
		t.Fatalf("approval not routed: %+v", sent)
	}
	if !f.inbound("alice", "subscribed", bob) {
		t.Fatal("approval not delivered")
	}
	if it := f.item("alice", bob); it.Sub != store.SubTo || it.Ask != "" {
		t.Fatalf("alice's item after approval %+v", it)
	}
	// The stored copy of the approval, delivered later, still goes to
	// the client; an approval nobody asked for does not.
	if !f.inbound("alice", "subscribed", bob) {
		t.Fatal("stored approval dropped")
	}
	if f.inbound("alice", "subscribed", "mallory@"+coretest.Network) {
		t.Fatal("unsolicited approval delivered")
	}
	// Cancelling, both ways.
	f.outbound(as, "unsubscribe", bob)
	if it := f.item("alice", bob); it.Sub != store.SubNone {
		t.Fatalf("after unsubscribe %+v", it)
	}
	f.inbound("bob", "unsubscribe", alice)
	if it := f.item("bob", alice); it.Sub != store.SubNone {
		t.Fatalf("bob after unsubscribe %+v", it)
	}
}

func TestPreApproval(t *testing.T) {
	f := newFixture(t)
	carol, dave := coretest.User(t, f.env, "carol"), coretest.User(t, f.env, "dave")
	cs := coretest.Session(t, f.env, "carol", "phone")
	sent := f.outbound(cs, "subscribed", dave)
	if r := coretest.Find(sent, "route"); len(r) != 0 {
		t.Fatalf("pre-approval routed: %+v", r)
	}
	if it := f.item("carol", dave); it == nil || !it.Pre || it.Sub != store.SubNone {
		t.Fatalf("pre-approved item %+v", it)
	}
	if f.inbound("carol", "subscribe", dave) {
		t.Fatal("pre-approved request delivered")
	}
	if it := f.item("carol", dave); it.Sub != store.SubFrom || it.Pre {
		t.Fatalf("after the request %+v", it)
	}
	sent = f.rec.Take()
	if r := coretest.Find(sent, "route", "type='subscribed'", "from='"+carol+"'", "to='"+dave+"'"); len(r) != 1 {
		t.Fatalf("no automatic approval: %+v", sent)
	}
}

func TestRosterIQ(t *testing.T) {
	f := newFixture(t)
	coretest.User(t, f.env, "erin")
	frank := coretest.User(t, f.env, "frank")
	es := coretest.Session(t, f.env, "erin", "phone")
	ctx := coretest.Context(t)
	iq := func(s string) (*xml.Element, error) {
		st := coretest.Parse(t, s)
		return f.r.HandleIQ(ctx, &core.IQ{Stanza: st, Payload: st.Payload(), Target: core.TargetSelf, User: "erin", Session: es})
	}
	if _, err := iq("<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='" + frank + "' name='Frank'><group>A</group><group>A</group></item></query></iq>"); err != nil {
		t.Fatal(err)
	}
	q, err := iq("<iq type='get' id='2'><query xmlns='jabber:iq:roster'/></iq>")
	if err != nil || !strings.Contains(q.String(), "<item jid='"+frank+"' subscription='none' name='Frank'><group>A</group></item>") {
		t.Fatalf("roster %v %v", q, err)
	}
	ver := q.Attr("ver")
	if q, _ := iq("<iq type='get' id='3'><query xmlns='jabber:iq:roster' ver='" + ver + "'/></iq>"); q != nil {
		t.Fatalf("unchanged roster returned: %v", q)
	}
	if _, err := iq("<iq type='set' id='4'><query xmlns='jabber:iq:roster'><item jid='" + frank + "' subscription='remove'/></query></iq>"); err != nil {
		t.Fatal(err)
	}
	if f.item("erin", frank) != nil {
		t.Fatal("item not removed")
	}
	for _, bad := range []string{
		"<iq type='set' id='5'><query xmlns='jabber:iq:roster'/></iq>",
		"<iq type='set' id='6'><query xmlns='jabber:iq:roster'><item jid='erin@" + coretest.Network + "'/></query></iq>",
		"<iq type='set' id='7'><query xmlns='jabber:iq:roster'><item jid='nobody@x' subscription='remove'/></query></iq>",
	} {
		_, err := iq(bad)
		if _, ok := err.(*stanza.Error); !ok {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
