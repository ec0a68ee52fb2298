package session_test

import (
	"testing"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/presence"
	"github.com/kontalk/xmppd/sm/session"
)

func TestLifecycle(t *testing.T) {
	env, rec := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	m := session.New(env, presence.New(env), nil)
	start := func(u, sid, c2s string) {
		t.Helper()
		e := &envelope.Envelope{From: c2s, To: u + "@" + coretest.Host, Action: envelope.ActionStart, SID: sid, JID: u + "@" + coretest.Network + "/phone", SM: true}
		if err := m.Start(ctx, u, e); err != nil {
			t.Fatal(err)
		}
	}
	start("ghost", "s0", "c2s-1."+coretest.Host)
	if got := coretest.Find(rec.Take(), "envelope", "action='failed'", "not-authorized"); len(got) != 1 {
		t.Fatal("session for a missing account not refused")
	}
	coretest.User(t, env, "alice")
	start("alice", "s1", "c2s-1."+coretest.Host)
	if got := coretest.Find(rec.Take(), "envelope", "action='started'", "sid='s1'"); len(got) != 1 {
		t.Fatal("not started")
	}
	// The same full JID again: the first session ends with conflict.
	start("alice", "s2", "c2s-2."+coretest.Host)
	sent := rec.Take()
	if len(coretest.Find(sent, "envelope", "to='c2s-1."+coretest.Host+"'", "action='end'", "sid='s1'", "reason='conflict'")) != 1 ||
		len(coretest.Find(sent, "envelope", "action='started'", "sid='s2'")) != 1 {
		t.Fatalf("replacement: %+v", sent)
	}
	if ok, err := m.End(ctx, "alice", &envelope.Envelope{SID: "s1"}); ok || err != nil {
		t.Fatalf("ending the replaced session: %v %v", ok, err)
	}
	if ok, err := m.End(ctx, "alice", &envelope.Envelope{SID: "s2", Unacked: 1}); !ok || err != nil {
		t.Fatalf("end: %v %v", ok, err)
	}
	if all, _ := env.Store.Sessions.All(ctx, "alice"); len(all) != 0 {
		t.Fatalf("sessions left %v", all)
	}
	// No trust: every login refused.
	m.Auth(ctx, "alice", &envelope.Envelope{From: "c2s-1." + coretest.Host, Conn: "c1", Key: []byte("x")})
	if got := coretest.Find(rec.Take(), "envelope", "action='failed'", "conn='c1'"); len(got) != 1 {
		t.Fatal("auth without server keys not refused")
	}
}
