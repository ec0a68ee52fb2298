package accounts_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/accounts"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/inbox"
	"github.com/kontalk/xmppd/sm/presence"
)

func TestDelete(t *testing.T) {
	env, rec := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	alice, bob, carol := coretest.User(t, env, "alice"), coretest.User(t, env, "bob"), coretest.User(t, env, "carol")
	env.Store.Rosters.Put(ctx, "alice", bob, store.Item{Sub: store.SubBoth})
	env.Store.Rosters.Put(ctx, "alice", carol, store.Item{Sub: store.SubFrom})
	env.Store.Rosters.Put(ctx, "alice", "dave@elsewhere.example", store.Item{Sub: store.SubTo})
	env.Store.Rosters.Put(ctx, "bob", alice, store.Item{Sub: store.SubBoth})
	sess := coretest.Session(t, env, "alice", "phone")
	a := accounts.New(env, inbox.New(env), presence.New(env))
	var reasons []string
	a.OnDeleted = func(r string) { reasons = append(reasons, r) }

	existed, err := a.Delete(ctx, "alice", accounts.ReasonOperator)
	if err != nil || !existed {
		t.Fatalf("delete: %v %v", existed, err)
	}
	sent := rec.Take()
	if len(coretest.Find(sent, "envelope", "action='end'", "sid='"+sess.SID+"'", "reason='account-deleted'")) != 1 {
		t.Errorf("session not ended: %v", sent)
	}
	for _, want := range []struct{ to, typ string }{{bob, "unsubscribed"}, {bob, "unsubscribe"}, {carol, "unsubscribed"}, {"dave@elsewhere.example", "unsubscribe"}} {
		if len(coretest.Find(sent, "route", "type='"+want.typ+"'", "to='"+want.to+"'", "from='"+alice+"'")) != 1 {
			t.Errorf("no %s to %s: %v", want.typ, want.to, sent)
		}
	}
	if len(coretest.Find(sent, "route", "type='unsubscribed'", "to='dave@elsewhere.example'")) != 0 {
		t.Errorf("unsubscribed to a contact not subscribed to alice")
	}
	// The cancellations to users of the network are in their inboxes.
	if n, err := env.Store.Inbox.Len(ctx, "bob"); err != nil || n != 2 {
		t.Fatalf("bob's inbox holds %d, %v", n, err)
	}
	if _, err := env.Store.Users.Get(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alice after delete: %v", err)
	}
	if s, _ := env.Store.Sessions.All(ctx, "alice"); len(s) != 0 {
		t.Fatalf("sessions after delete: %v", s)
	}
	if existed, err := a.Delete(ctx, "alice", accounts.ReasonOperator); existed || err != nil {
		t.Fatalf("second delete: %v %v", existed, err)
	}
	if strings.Join(reasons, ",") != "operator" {
		t.Fatalf("reasons %v", reasons)
	}
}

func TestPurge(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	old := time.Now().Add(-48 * time.Hour)
	env.Store.Users.Create(ctx, "idle", store.User{Fingerprint: "A", Home: coretest.Host, Created: old, Seen: old})
	env.Store.Users.Create(ctx, "online", store.User{Fingerprint: "B", Home: coretest.Host, Created: old, Seen: old})
	coretest.Session(t, env, "online", "r")
	env.Store.Users.Create(ctx, "fresh", store.User{Fingerprint: "C", Home: coretest.Host})
	a := accounts.New(env, inbox.New(env), presence.New(env))
	n, err := a.Purge(ctx, time.Now().Add(-24*time.Hour), 100)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	got, _ := env.Store.Users.Exist(ctx, []string{"idle", "online", "fresh"})
	if got[0] || !got[1] || !got[2] {
		t.Fatalf("after purge %v", got)
	}
}
