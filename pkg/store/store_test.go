package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open starts a private redis-server and opens a store on it.
func open(t testing.TB, opts store.Options) (*store.Store, *testkit.Redis, *prometheus.Registry) {
	t.Helper()
	r := testkit.StartRedis(t, testkit.RedisOptions{AppendOnly: true})
	reg := prometheus.NewRegistry()
	opts.URL = r.URL()
	opts.Metrics = reg
	opts.Namespace = "test"
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, r, reg
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestOpenURLs(t *testing.T) {
	for _, bad := range []string{"", "http://x:1", "localhost:6379", "redis://a:1,b:2/3"} {
		if _, err := store.Open(store.Options{URL: bad}); err == nil {
			t.Errorf("Open(%q): no error", bad)
		}
	}
	_, err := store.Open(store.Options{URL: "redis://user:hunter2@[::1"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad URL error %v shows the password or is missing", err)
	}
	for _, good := range []string{"redis://127.0.0.1:1/2", "redis://127.0.0.1:1,127.0.0.1:2", "rediss://u:p@h:1"} {
		s, err := store.Open(store.Options{URL: good})
		if err != nil {
			t.Errorf("Open(%q): %v", good, err)
			continue
		}
		s.Close()
	}
}

func TestUsers(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	if _, err := s.Users.Get(c, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing user: %v", err)
	}
	created := time.UnixMilli(1700000000000)
	ok, err := s.Users.Create(c, "alice", store.User{Fingerprint: "AB", Key: []byte{0, 1, 2, 0xff}, Home: "h1", Created: created})
	if err != nil || !ok {
		t.Fatalf("Create: %v %v", ok, err)
	}
	if ok, err := s.Users.Create(c, "alice", store.User{Home: "h2"}); err != nil || ok {
		t.Fatalf("second Create: %v %v", ok, err)
	}
	u, err := s.Users.Get(c, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Fingerprint != "AB" || !bytes.Equal(u.Key, []byte{0, 1, 2, 0xff}) || u.Home != "h1" || !u.Created.Equal(created) || !u.Seen.IsZero() {
		t.Fatalf("Get: %+v", u)
	}
	if err := s.Users.SetKey(c, "alice", "CD", []byte("k2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Users.SetStatus(c, "alice", "busy"); err != nil {
		t.Fatal(err)
	}
	u, _ = s.Users.Get(c, "alice")
	if u.Fingerprint != "CD" || string(u.Key) != "k2" || u.Status != "busy" {
		t.Fatalf("after SetKey: %+v", u)
	}
	b := s.Batch()
	info := b.UserInfo("alice")
	none := b.UserInfo("bob")
	if err := b.Exec(c); err != nil {
		t.Fatal(err)
	}
	if u, err := info.Get(); err != nil || u.Fingerprint != "CD" || u.Key != nil || u.Home != "h1" {
		t.Fatalf("UserInfo: %+v %v", u, err)
	}
	if _, err := none.Get(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserInfo of nobody: %v", err)
	}
	ex, err := s.Users.Exist(c, []string{"bob", "alice"})
	if err != nil || len(ex) != 2 || ex[0] || !ex[1] {
		t.Fatalf("Exist: %v %v", ex, err)
	}
}

func TestSessions(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	s.Users.Create(c, "alice", store.User{Home: "h1"})
	s1 := store.Session{SID: "s1", C2S: "c2s-1.h1", Host: "h1", Since: 1}
	if old, err := s.Sessions.Start(c, "alice", "phone", s1); err != nil || old != nil {
		t.Fatalf("Start: %v %v", old, err)
	}
	// The same sid again is an update, not a replacement.
	s1.SM = true
	if old, err := s.Sessions.Start(c, "alice", "phone", s1); err != nil || old != nil {
		t.Fatalf("Start update: %v %v", old, err)
	}
	if ok, err := s.Sessions.Update(c, "alice", "phone", store.Session{SID: "s1", C2S: "c2s-1.h1", Host: "h1", Avail: true, Prio: 5, SM: true}, []byte("<presence/>")); err != nil || !ok {
		t.Fatalf("Update: %v %v", ok, err)
	}
	if ok, _ := s.Sessions.Update(c, "alice", "phone", store.Session{SID: "other"}, nil); ok {
		t.Fatal("Update with another sid succeeded")
	}
	if err := s.Sessions.RaiseSeq(c, "alice", "phone", "s1", 7); err != nil {
		t.Fatal(err)
	}
	s.Sessions.RaiseSeq(c, "alice", "phone", "s1", 3) // never lowers
	if err := s.Sessions.RaiseSeqs(c, []store.SeqRaise{{User: "alice", Resource: "phone", SID: "s1", Seq: 6}, {User: "alice", Resource: "gone", SID: "x", Seq: 9}}); err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	one := b.Session("alice", "phone")
	seq := b.Seq("alice", "s1")
	all := b.Sessions("alice")
	pres := b.Presences("alice")
	missing := b.Session("alice", "laptop")
	if err := b.Exec(c); err != nil {
		t.Fatal(err)
	}
	if got, err := one.Get(); err != nil || !got.Avail || got.Prio != 5 || !got.SM {
		t.Fatalf("batch session: %+v %v", got, err)
	}
	if n, _ := seq.Get(); n != 7 {
		t.Fatalf("seq %d, want 7", n)
	}
	if m, _ := all.Get(); len(m) != 1 {
		t.Fatalf("sessions %v", m)
	}
	if p, _ := pres.Get(); string(p["phone"]) != "<presence/>" {
		t.Fatalf("presences %q", p)
	}
	if _, err := missing.Get(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing session: %v", err)
	}

	// A new sid for the resource replaces the session, on another c2s.
	s2 := store.Session{SID: "s2", C2S: "c2s-2.h1", Host: "h1"}
	old, err := s.Sessions.Start(c, "alice", "phone", s2)
	if err != nil || old == nil || old.SID != "s1" {
		t.Fatalf("replace: %+v %v", old, err)
	}
	if p, _ := s.Sessions.Presences(c, "alice"); len(p) != 0 {
		t.Fatalf("replaced session's presence kept: %q", p)
	}
	if refs, _ := s.Sessions.ClaimC2S(c, "c2s-1.h1", 10); len(refs) != 0 {
		t.Fatalf("old c2s still indexes %v", refs)
	}
	refs, next, err := s.Sessions.ScanHost(c, "h1", 0, 10)
	if err != nil || next != 0 || len(refs) != 1 || refs[0] != (store.Ref{User: "alice", Resource: "phone"}) {
		t.Fatalf("ScanHost: %v %d %v", refs, next, err)
	}

	// Ending by sid removes the record and the indexes, and records the
	// logout.
	if _, _, err := s.Sessions.End(c, "alice", "s1", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("End old sid: %v", err)
	}
	seen := time.UnixMilli(1800000000000)
	res, ended, err := s.Sessions.End(c, "alice", "s2", seen)
	if err != nil || res != "phone" || ended.C2S != "c2s-2.h1" {
		t.Fatalf("End: %s %+v %v", res, ended, err)
	}
	if u, _ := s.Users.Get(c, "alice"); !u.Seen.Equal(seen) {
		t.Fatalf("seen %v, want %v", u.Seen, seen)
	}
	if m, _ := s.Sessions.All(c, "alice"); len(m) != 0 {
		t.Fatalf("sessions left: %v", m)
	}
	if refs, _ := s.Sessions.ClaimHost(c, "h1", 10); len(refs) != 0 {
		t.Fatalf("host index left: %v", refs)
	}
	if refs, _ := s.Sessions.ClaimC2S(c, "c2s-2.h1", 10); len(refs) != 0 {
		t.Fatalf("c2s index left: %v", refs)
	}
}

func TestSessionClaims(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	for i := range 5 {
		s.Sessions.Start(c, fmt.Sprintf("u%d", i), "r/x", store.Session{SID: fmt.Sprint(i), C2S: "c2s-1.h", Host: "h"})
	}
	seen := map[store.Ref]bool{}
	for {
		refs, err := s.Sessions.ClaimC2S(c, "c2s-1.h", 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) == 0 {
			break
		}
		for _, r := range refs {
			if seen[r] {
				t.Fatalf("%v claimed twice", r)
			}
			seen[r] = true
		}
	}
	if len(seen) != 5 || !seen[store.Ref{User: "u3", Resource: "r/x"}] {
		t.Fatalf("claimed %v", seen)
	}
	if err := s.Sessions.Index(c, store.Ref{User: "u1", Resource: "r/x"}, "c2s-1.h", "h"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sessions.Unindex(c, store.Ref{User: "u1", Resource: "r/x"}, "c2s-1.h", "h"); err != nil {
		t.Fatal(err)
	}
	refs, _ := s.Sessions.ClaimHost(c, "h", 10)
	if len(refs) != 4 {
		t.Fatalf("host index %v", refs)
	}
}

func TestRoster(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	r, err := s.Rosters.Get(c, "alice")
	if err != nil || len(r.Items) != 0 || r.Version != 0 {
		t.Fatalf("empty roster: %+v %v", r, err)
	}
	v1, err := s.Rosters.Put(c, "alice", "bob@n", store.Item{Ask: "subscribe"})
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := s.Rosters.Put(c, "alice", "carol@n", store.Item{Sub: store.SubBoth, Name: "Carol", Groups: []string{"g"}})
	if v2 <= v1 {
		t.Fatalf("versions %d then %d", v1, v2)
	}
	it, err := s.Rosters.Item(c, "alice", "bob@n")
	if err != nil || it.Sub != store.SubNone || it.Ask != "subscribe" || !it.Visible() {
		t.Fatalf("Item: %+v %v", it, err)
	}
	if (&store.Item{Sub: store.SubNone, In: true}).Visible() {
		t.Fatal("an item holding only a pending request is visible")
	}
	b := s.Batch()
	all := b.Roster("alice")
	one := b.RosterItem("alice", "carol@n")
	none := b.RosterItem("alice", "dave@n")
	if err := b.Exec(c); err != nil {
		t.Fatal(err)
	}
	if r, _ := all.Get(); len(r.Items) != 2 || r.Version != v2 {
		t.Fatalf("batch roster %+v", r)
	}
	if it, _ := one.Get(); it.Name != "Carol" || it.Groups[0] != "g" {
		t.Fatalf("batch item %+v", it)
	}
	if _, err := none.Get(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing item: %v", err)
	}
	v3, err := s.Rosters.Remove(c, "alice", "bob@n")
	if err != nil || v3 <= v2 {
		t.Fatalf("Remove: %d %v", v3, err)
	}
	if _, err := s.Rosters.Item(c, "alice", "bob@n"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed item: %v", err)
	}
}

func TestBlocking(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	if err := s.Blocking.Add(c, "alice", []string{"bob@n", "evil.example"}); err != nil {
		t.Fatal(err)
	}
	for cands, want := range map[string]bool{
		"bob@n/phone bob@n n": true, "x@evil.example evil.example": true, "carol@n n": false, "": false,
	} {
		got, err := s.Blocking.Blocked(c, "alice", strings.Fields(cands))
		if err != nil || got != want {
			t.Errorf("Blocked(%q) = %v %v, want %v", cands, got, err, want)
		}
	}
	l, _ := s.Blocking.List(c, "alice")
	if len(l) != 2 {
		t.Fatalf("List %v", l)
	}
	s.Blocking.Remove(c, "alice", []string{"bob@n"})
	if l, _ := s.Blocking.List(c, "alice"); len(l) != 1 || l[0] != "evil.example" {
		t.Fatalf("after Remove: %v", l)
	}
	s.Blocking.Remove(c, "alice", nil)
	if l, _ := s.Blocking.List(c, "alice"); len(l) != 0 {
		t.Fatalf("after clear: %v", l)
	}
}

func TestInbox(t *testing.T) {
	s, _, _ := open(t, store.Options{InboxMax: 10})
	c := ctx(t)
	if res, err := s.Inbox.Put(c, "bob", store.RID("alice@n", "1"), []byte("<m/>"), nil); err != nil || res != store.UnknownUser {
		t.Fatalf("Put to unknown user: %v %v", res, err)
	}
	s.Users.Create(c, "bob", store.User{Home: "h"})
	start := time.Now()
	var rids []string
	for i := range 5 {
		rid := store.RID("alice@n", fmt.Sprint(i))
		rids = append(rids, rid)
		res, err := s.Inbox.Put(c, "bob", rid, fmt.Appendf(nil, "<message id='%d'/>", i), []string{"alice@n/phone", "alice@n", "n"})
		if err != nil || res != store.Stored {
			t.Fatalf("Put %d: %v %v", i, res, err)
		}
	}
	if res, _ := s.Inbox.Put(c, "bob", rids[2], []byte("<other/>"), nil); res != store.Duplicate {
		t.Fatalf("duplicate Put: %v", res)
	}
	s.Blocking.Add(c, "bob", []string{"eve@n"})
	if res, _ := s.Inbox.Put(c, "bob", store.RID("eve@n", "1"), []byte("<m/>"), []string{"eve@n/x", "eve@n", "n"}); res != store.BlockedSender {
		t.Fatalf("blocked Put: %v", res)
	}

	// Pages come oldest first with strictly increasing scores, even for
	// writes within one microsecond.
	page1, err := s.Inbox.Page(c, "bob", 0, time.Time{}, 3)
	if err != nil || len(page1) != 3 {
		t.Fatalf("Page: %v %v", page1, err)
	}
	page2, _ := s.Inbox.Page(c, "bob", page1[2].Score, time.Time{}, 3)
	all := append(page1, page2...)
	if len(all) != 5 {
		t.Fatalf("%d entries", len(all))
	}
	for i, e := range all {
		if e.RID != rids[i] || string(e.Stanza) != fmt.Sprintf("<message id='%d'/>", i) {
			t.Errorf("entry %d: %s %q", i, e.RID, e.Stanza)
		}
		if i > 0 && e.Score <= all[i-1].Score {
			t.Errorf("score %d not above %d", e.Score, all[i-1].Score)
		}
		if e.Arrived.Before(start.Add(-time.Second)) || e.Arrived.After(time.Now().Add(time.Second)) {
			t.Errorf("arrival %v", e.Arrived)
		}
	}
	if old, _ := s.Inbox.Page(c, "bob", 0, start.Add(-time.Minute), 10); len(old) != 0 {
		t.Fatalf("entries before the start: %d", len(old))
	}
	b := s.Batch()
	oldest := b.InboxOldest("bob")
	empty := b.InboxOldest("alice")
	if err := b.Exec(c); err != nil {
		t.Fatal(err)
	}
	if o, _ := oldest.Get(); o != all[0].Score {
		t.Fatalf("oldest %d, want %d", o, all[0].Score)
	}
	if o, _ := empty.Get(); o != 0 {
		t.Fatalf("oldest of an empty inbox: %d", o)
	}
	if err := s.Inbox.Ack(c, "bob", rids[:2]); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Inbox.Len(c, "bob"); n != 3 {
		t.Fatalf("Len after ack: %d", n)
	}
	// Full.
	for i := 5; i < 12; i++ {
		s.Inbox.Put(c, "bob", store.RID("alice@n", fmt.Sprint(i)), []byte("<m/>"), nil)
	}
	if res, _ := s.Inbox.Put(c, "bob", store.RID("alice@n", "x"), []byte("<m/>"), nil); res != store.InboxFull {
		t.Fatalf("Put to a full inbox: %v", res)
	}
}

func TestInboxExpiry(t *testing.T) {
	s, _, _ := open(t, store.Options{InboxRetention: 300 * time.Millisecond})
	c := ctx(t)
	s.Users.Create(c, "bob", store.User{Home: "h"})
	s.Inbox.Put(c, "bob", "old", []byte("<m/>"), nil)
	testkit.Eventually(t, 5*time.Second, "entry expired", func() bool {
		e, err := s.Inbox.Page(c, "bob", 0, time.Time{}, 10)
		return err == nil && len(e) == 0
	})
	s.Inbox.Put(c, "bob", "new", []byte("<m/>"), nil)
	if n, _ := s.Inbox.Len(c, "bob"); n != 1 {
		t.Fatalf("Len %d", n)
	}
}

// TestInboxFullOfExpired: a full inbox whose entries expired takes new
// ones, dropping the expired.
func TestInboxFullOfExpired(t *testing.T) {
	s, _, _ := open(t, store.Options{InboxRetention: 200 * time.Millisecond, InboxMax: 2})
	c := ctx(t)
	s.Users.Create(c, "bob", store.User{Home: "h"})
	s.Inbox.Put(c, "bob", "a", []byte("<m/>"), nil)
	s.Inbox.Put(c, "bob", "b", []byte("<m/>"), nil)
	if res, _ := s.Inbox.Put(c, "bob", "c", []byte("<m/>"), nil); res != store.InboxFull {
		t.Fatalf("full inbox: %v", res)
	}
	testkit.Eventually(t, 5*time.Second, "expired entries make room", func() bool {
		res, err := s.Inbox.Put(c, "bob", "d", []byte("<m/>"), nil)
		return err == nil && res == store.Stored
	})
	if n, _ := s.Inbox.Len(c, "bob"); n != 1 {
		t.Fatalf("Len %d", n)
	}
}

func TestHosts(t *testing.T) {
	s, _, _ := open(t, store.Options{})
	c := ctx(t)
	if ok, err := s.Hosts.Register(c, "h1", store.Host{Enabled: true, Fingerprint: "F"}); err != nil || !ok {
		t.Fatalf("Register: %v %v", ok, err)
	}
	if ok, _ := s.Hosts.Register(c, "h1", store.Host{}); ok {
		t.Fatal("Register overwrote an entry")
	}
	s.Hosts.Register(c, "h2", store.Host{Enabled: true})
	all, _ := s.Hosts.All(c)
	if len(all) != 2 || all["h1"].Fingerprint != "F" {
		t.Fatalf("All %v", all)
	}
	if err := s.Hosts.Renew(c, "h1", "sm-1.h1", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	live, err := s.Hosts.Live(c, []string{"h1", "h2"})
	if err != nil || !live[0] || live[1] {
		t.Fatalf("Live %v %v", live, err)
	}
	testkit.Eventually(t, 5*time.Second, "lease expired", func() bool {
		live, err := s.Hosts.Live(c, []string{"h1"})
		return err == nil && !live[0]
	})
	if ok, _ := s.Hosts.Lock(c, "sweep", "a", time.Minute); !ok {
		t.Fatal("Lock not taken")
	}
	if ok, _ := s.Hosts.Lock(c, "sweep", "b", time.Minute); ok {
		t.Fatal("Lock taken twice")
	}
	if ok, _ := s.Hosts.Lock(c, "sweep", "a", time.Minute); !ok {
		t.Fatal("Lock not renewed by its owner")
	}
}

// TestRedisAway checks that operations fail within the timeout with an
// error naming the operation, and work again once Redis is back.
func TestRedisAway(t *testing.T) {
	s, r, reg := open(t, store.Options{Timeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
	c := ctx(t)
	s.Users.Create(c, "bob", store.User{Home: "h"})
	if res, err := s.Inbox.Put(c, "bob", "r1", []byte("<m/>"), nil); err != nil || res != store.Stored {
		t.Fatal(res, err)
	}
	r.Kill()
	start := time.Now()
	_, err := s.Inbox.Put(c, "bob", "r2", []byte("<m/>"), nil)
	if err == nil || !strings.Contains(err.Error(), "inbox put") {
		t.Fatalf("Put with Redis away: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Put took %v with Redis away", d)
	}
	if err := s.Ping(c); err == nil {
		t.Fatal("Ping succeeded with Redis away")
	}
	if n := errorCount(t, reg, "inbox_put"); n < 1 {
		t.Fatalf("errors counted: %v", n)
	}
	r.Restart()
	testkit.Eventually(t, 10*time.Second, "store works again", func() bool { return s.Ping(c) == nil })
	// The append-only file kept the acknowledged write, and the script
	// cache is reloaded on demand.
	if n, err := s.Inbox.Len(c, "bob"); err != nil || n != 1 {
		t.Fatalf("Len after restart: %d %v", n, err)
	}
	if res, err := s.Inbox.Put(c, "bob", "r3", []byte("<m/>"), nil); err != nil || res != store.Stored {
		t.Fatalf("Put after restart: %v %v", res, err)
	}
}

// errorCount reads the store's error counter for op.
func errorCount(t *testing.T, reg *prometheus.Registry, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kontalk_test_redis_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == op {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestRID(t *testing.T) {
	a := store.RID("alice@n", "m1")
	if len(a) != 40 || a != store.RID("alice@n", "m1") || a == store.RID("alice@n", "m2") || a == store.RID("alice@n\x00m", "1") {
		t.Fatalf("RID %s", a)
	}
}

func BenchmarkInboxPut(b *testing.B) {
	s, _, _ := open(b, store.Options{InboxMax: 1 << 30})
	c := context.Background()
	s.Users.Create(c, "bob", store.User{Home: "h"})
	stanza := bytes.Repeat([]byte("x"), 500)
	cands := []string{"alice@n/phone", "alice@n", "n"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Inbox.Put(c, "bob", store.RID("alice@n", fmt.Sprint(i)), stanza, cands); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTemporary(t *testing.T) {
	s, r, _ := open(t, store.Options{Timeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
	c := ctx(t)
	if _, err := s.Users.Get(c, "nobody"); store.Temporary(err) {
		t.Fatalf("not found is temporary: %v", err)
	}
	r.Kill()
	if _, err := s.Users.Get(c, "nobody"); !store.Temporary(err) {
		t.Fatalf("Redis away is not temporary: %v", err)
	}
	if store.Temporary(errors.New("store: x: bad session record")) {
		t.Fatal("bad data is temporary")
	}
}
