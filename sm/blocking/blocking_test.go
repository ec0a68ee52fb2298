package blocking_test

import (
	"testing"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/blocking"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/presence"
)

func TestBlockUnblock(t *testing.T) {
	env, rec := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	b := blocking.New(env, presence.New(env))
	coretest.User(t, env, "alice")
	bob := coretest.User(t, env, "bob")
	env.Store.Rosters.Put(ctx, "alice", bob, store.Item{Sub: store.SubBoth})
	s := coretest.Session(t, env, "alice", "phone")
	iq := func(raw string) (*xml.Element, error) {
		t.Helper()
		top, err := xml.ParseTop([]byte(raw), xml.Scope{Default: "jabber:client"})
		if err != nil {
			t.Fatal(err)
		}
		st, err := core.ParseStanza(top, "jabber:client")
		if err != nil {
			t.Fatal(err)
		}
		return b.HandleIQ(ctx, &core.IQ{Stanza: st, Payload: st.Payload(), Target: core.TargetSelf, User: "alice", Session: s})
	}
	if _, err := iq("<iq type='set' id='1'><block xmlns='urn:xmpp:blocking'><item jid='" + bob + "'/><item jid='spam.example'/></block></iq>"); err != nil {
		t.Fatal(err)
	}
	sent := rec.Take()
	if len(coretest.Find(sent, "deliver", "<block xmlns='urn:xmpp:blocking'>")) != 1 {
		t.Fatalf("no push: %+v", sent)
	}
	if len(coretest.Find(sent, "route", "type='unavailable'", "to='"+bob+"'")) != 1 {
		t.Fatalf("no unavailable to the blocked contact: %+v", sent)
	}
	l, err := iq("<iq type='get' id='2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	if err != nil || l.String() != "<blocklist xmlns='urn:xmpp:blocking'><item jid='"+bob+"'/><item jid='spam.example'/></blocklist>" {
		t.Fatalf("blocklist %v %v", l, err)
	}
	if _, err := iq("<iq type='set' id='3'><unblock xmlns='urn:xmpp:blocking'><item jid='spam.example'/></unblock></iq>"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := env.Store.Blocking.Blocked(ctx, "alice", []string{"spam.example"}); ok {
		t.Fatal("still blocked")
	}
	iq("<iq type='set' id='4'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	if l, _ := env.Store.Blocking.List(ctx, "alice"); len(l) != 0 {
		t.Fatalf("unblock all left %v", l)
	}
	for _, bad := range []string{
		"<iq type='set' id='5'><block xmlns='urn:xmpp:blocking'/></iq>",
		"<iq type='set' id='6'><block xmlns='urn:xmpp:blocking'><item jid='a@@b'/></block></iq>",
		"<iq type='get' id='7'><block xmlns='urn:xmpp:blocking'/></iq>",
	} {
		if _, err := iq(bad); err == nil {
			t.Errorf("%s accepted", bad)
		} else if _, ok := err.(*stanza.Error); !ok {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
