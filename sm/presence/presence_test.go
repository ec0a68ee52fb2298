package presence_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/presence"
)

func TestBroadcastAndProbe(t *testing.T) {
	env, rec := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	p := presence.New(env)
	initial := 0
	p.OnInitial = func(context.Context, *core.Session) error { initial++; return nil }
	alice := coretest.User(t, env, "alice")
	bob, carol, dave := coretest.User(t, env, "bob"), coretest.User(t, env, "carol"), coretest.User(t, env, "dave")
	env.Store.Rosters.Put(ctx, "alice", bob, store.Item{Sub: store.SubBoth})
	env.Store.Rosters.Put(ctx, "alice", carol, store.Item{Sub: store.SubTo})
	env.Store.Rosters.Put(ctx, "alice", dave, store.Item{Sub: store.SubFrom})
	env.Store.Blocking.Add(ctx, "alice", []string{dave})
	s := coretest.Session(t, env, "alice", "phone")
	s.Avail = false
	env.Store.Sessions.Update(ctx, "alice", "phone", s.Session, nil)

	if err := p.Outbound(ctx, s, coretest.Parse(t, "<presence from='"+env.FullJID(s)+"'><priority>5</priority></presence>")); err != nil {
		t.Fatal(err)
	}
	sent := rec.Take()
	// To bob (subscribed, not blocked) with the fingerprint; not to carol
	// (alice subscribes to her, not the reverse), not to dave (blocked).
	if got := coretest.Find(sent, "route", "<presence", "to='"+bob+"'", "<print>ALICEFP</print>"); len(got) != 1 {
		t.Fatalf("broadcast %+v", sent)
	}
	if len(coretest.Find(sent, "route", "to='"+dave+"'")) != 0 {
		t.Fatal("presence sent to a blocked contact")
	}
	// Probes go to those alice is subscribed to.
	for _, c := range []string{bob, carol} {
		if len(coretest.Find(sent, "route", "type='probe'", "from='"+alice+"'", "to='"+c+"'")) != 1 {
			t.Errorf("no probe to %s: %+v", c, sent)
		}
	}
	if len(coretest.Find(sent, "deliver", "to='"+env.FullJID(s)+"'")) != 1 || initial != 1 {
		t.Fatalf("own session / initial: %+v %d", sent, initial)
	}
	rec2, _ := env.Store.Sessions.Get(ctx, "alice", "phone")
	if !rec2.Avail || rec2.Prio != 5 {
		t.Fatalf("session %+v", rec2)
	}
	// A second presence is no initial presence.
	p.Outbound(ctx, s, coretest.Parse(t, "<presence from='"+env.FullJID(s)+"'><show>away</show></presence>"))
	if sent = rec.Take(); initial != 1 || len(coretest.Find(sent, "route", "type='probe'")) != 0 {
		t.Fatalf("second presence probed again: %+v", sent)
	}

	// Probes: bob (from/both) gets the stored presence; carol nothing.
	p.Probe(ctx, "alice", coretest.Parse(t, "<presence type='probe' from='"+bob+"/x' to='alice@"+coretest.Host+"'/>"))
	if got := coretest.Find(rec.Take(), "route", "<show>away</show>", "to='"+bob+"/x'"); len(got) != 1 {
		t.Fatalf("probe answer %+v", got)
	}
	p.Probe(ctx, "alice", coretest.Parse(t, "<presence type='probe' from='"+carol+"' to='alice@"+coretest.Host+"'/>"))
	if sent := rec.Take(); len(sent) != 0 {
		t.Fatalf("unsubscribed probe answered: %+v", sent)
	}

	// Unavailable: broadcast with a delay stamp; the probe answer says
	// unavailable.
	p.Outbound(ctx, s, coretest.Parse(t, "<presence type='unavailable' from='"+env.FullJID(s)+"'><status>bye</status></presence>"))
	if got := coretest.Find(rec.Take(), "route", "type='unavailable'", "to='"+bob+"'", "urn:xmpp:delay"); len(got) != 1 {
		t.Fatalf("unavailable %+v", got)
	}
	p.Probe(ctx, "alice", coretest.Parse(t, "<presence type='probe' from='"+bob+"' to='alice@"+coretest.Host+"'/>"))
	got := rec.Take()
	if len(got) != 1 || !strings.Contains(got[0].Raw, "type='unavailable'") || !strings.Contains(got[0].Raw, "<status>bye</status>") {
		t.Fatalf("probe of unavailable user %+v", got)
	}
}
