package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
)

func TestRegistrations(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	r := s.Registrations
	if _, err := r.Pending(c, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pending of nobody: %v", err)
	}
	p := store.Pending{Phone: "+15555215554", Provider: "dummy", Challenge: "pin", From: "Kontalk", Code: "123456"}
	if err := r.Begin(c, "u1", p, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := r.Pending(c, "u1")
	if err != nil || got.Phone != p.Phone || got.Code != "123456" || got.Attempts != 0 || got.Created.IsZero() {
		t.Fatalf("pending %+v, %v", got, err)
	}
	for i := 1; i <= 2; i++ {
		if n, err := r.Fail(c, "u1", 3); err != nil || n != i {
			t.Fatalf("fail %d: %d, %v", i, n, err)
		}
	}
	if n, err := r.Fail(c, "u1", 3); err != nil || n != 3 {
		t.Fatalf("third fail: %d, %v", n, err)
	}
	if _, err := r.Pending(c, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pending after the last attempt: %v", err)
	}
	if _, err := r.Fail(c, "u1", 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("fail without pending: %v", err)
	}
	// Begin again resets the attempts; Finish claims once.
	r.Begin(c, "u1", p, time.Minute)
	r.Fail(c, "u1", 3)
	r.Begin(c, "u1", p, time.Minute)
	if got, _ := r.Pending(c, "u1"); got == nil || got.Attempts != 0 {
		t.Fatalf("attempts after a new begin: %+v", got)
	}
	if ok, err := r.Finish(c, "u1"); !ok || err != nil {
		t.Fatalf("finish: %v %v", ok, err)
	}
	if ok, _ := r.Finish(c, "u1"); ok {
		t.Fatal("finished twice")
	}
	// Pending verifications expire.
	r.Begin(c, "u2", p, 50*time.Millisecond)
	testkit.Eventually(t, 5*time.Second, "pending verification expired", func() bool {
		_, err := r.Pending(c, "u2")
		return errors.Is(err, store.ErrNotFound)
	})
}

func TestThrottle(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	for i := int64(1); i <= 3; i++ {
		if n, err := s.Registrations.Throttle(c, "phone:x", time.Hour); err != nil || n != i {
			t.Fatalf("count %d: %d %v", i, n, err)
		}
	}
	if n, _ := s.Registrations.Throttle(c, "addr:1.2.3.4", time.Hour); n != 1 {
		t.Fatalf("another key counts %d", n)
	}
	// The window ends.
	s.Registrations.Throttle(c, "short", 30*time.Millisecond)
	testkit.Eventually(t, 5*time.Second, "throttling window ended", func() bool {
		n, _ := s.Registrations.Throttle(c, "short", 30*time.Millisecond)
		return n == 1
	})
}

func TestPrivateKeys(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	k := store.PrivateKey{User: "u1", Key: []byte{0, 1, 2, 0xff}}
	if err := s.Registrations.PutPrivateKey(c, "h1", k, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.Registrations.TakePrivateKey(c, "h1")
	if err != nil || got.User != "u1" || string(got.Key) != string(k.Key) {
		t.Fatalf("take %+v %v", got, err)
	}
	if _, err := s.Registrations.TakePrivateKey(c, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second take: %v", err)
	}
}

func TestPush(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	s.Push.Register(c, "u1", "gcm", "tok1")
	s.Push.Register(c, "u1", "gcm", "tok2")
	if m, err := s.Push.Tokens(c, "u1"); err != nil || len(m) != 1 || m["gcm"] != "tok2" {
		t.Fatalf("tokens %v %v", m, err)
	}
	since := time.UnixMilli(time.Now().UnixMilli())
	s.Push.SetIdle(c, "u1", "sid1", since)
	s.Push.SetIdle(c, "u1", "sid2", since)
	s.Push.SetIdle(c, "u1", "sid2", time.Time{})
	b := s.Batch()
	f := b.PushTarget("u1")
	if err := b.Exec(c); err != nil {
		t.Fatal(err)
	}
	pt, err := f.Get()
	if err != nil || pt.Tokens["gcm"] != "tok2" || len(pt.Idle) != 1 || !pt.Idle["sid1"].Equal(since) {
		t.Fatalf("push target %+v %v", pt, err)
	}
	s.Push.Unregister(c, "u1", "gcm")
	if m, _ := s.Push.Tokens(c, "u1"); len(m) != 0 {
		t.Fatalf("tokens after unregister %v", m)
	}
}

func TestUsersDeleteAndInactive(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	old := time.Now().Add(-48 * time.Hour)
	s.Users.Create(c, "old", store.User{Fingerprint: "A", Home: "h", Created: old})
	s.Users.Create(c, "online", store.User{Fingerprint: "B", Home: "h", Created: old})
	s.Sessions.Start(c, "online", "r", store.Session{SID: "s1", C2S: "c2s-1.h", Host: "h"})
	s.Users.Create(c, "recent", store.User{Fingerprint: "C", Home: "h", Created: old, Seen: time.Now()})
	s.Users.Create(c, "new", store.User{Fingerprint: "D", Home: "h"})
	got, err := s.Users.Inactive(c, time.Now().Add(-24*time.Hour), 10)
	if err != nil || len(got) != 1 || got[0] != "old" {
		t.Fatalf("inactive %v %v", got, err)
	}
	s.Rosters.Put(c, "old", "x@n", store.Item{Sub: store.SubBoth})
	s.Push.Register(c, "old", "gcm", "t")
	if ok, err := s.Users.Delete(c, "old"); !ok || err != nil {
		t.Fatalf("delete %v %v", ok, err)
	}
	if _, err := s.Users.Get(c, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user after delete: %v", err)
	}
	if r, _ := s.Rosters.Get(c, "old"); len(r.Items) != 0 {
		t.Fatalf("roster after delete: %v", r.Items)
	}
	if m, _ := s.Push.Tokens(c, "old"); len(m) != 0 {
		t.Fatalf("push after delete: %v", m)
	}
	if ok, _ := s.Users.Delete(c, "old"); ok {
		t.Fatal("deleted twice")
	}
}

func TestHostsFingerprint(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	s.Hosts.Register(c, "h1", store.Host{Fingerprint: "OLD", Addr: "h1:5269", Enabled: false})
	if err := s.Hosts.SetFingerprint(c, "h1", "NEW"); err != nil {
		t.Fatal(err)
	}
	if err := s.Hosts.SetFingerprint(c, "h2", "FP2"); err != nil {
		t.Fatal(err)
	}
	all, err := s.Hosts.All(c)
	if err != nil {
		t.Fatal(err)
	}
	if h := all["h1"]; h.Fingerprint != "NEW" || h.Addr != "h1:5269" || h.Enabled {
		t.Errorf("h1 %+v", h)
	}
	if h := all["h2"]; h.Fingerprint != "FP2" || !h.Enabled {
		t.Errorf("h2 %+v", h)
	}
}
