package server

import (
	"context"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
)

var routerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sm-server-test")
	if err != nil {
		log.Fatal(err)
	}
	routerBin, err = testkit.Build(context.Background(), "../../router", dir, "router")
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			log.Print(err)
			code = 1
		}
	}
	os.Exit(code)
}

func validOptions() Options {
	return Options{Name: "sm-1.h.example", Host: "h.example", Network: "example", Router: "127.0.0.1:1", Secret: "s", Redis: store.Options{URL: "redis://127.0.0.1:1/0"}}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Host = "" }, "-host is required"},
		{func(o *Options) { o.Network = o.Host }, "must differ"},
		{func(o *Options) { o.Name = "sm-1.other" }, "under the host"},
		{func(o *Options) { o.Secret = "" }, "no secret"},
		{func(o *Options) { o.Network = "a@b" }, "not a domain"},
		{func(o *Options) { o.LeaseEvery, o.LeaseTTL = time.Minute, time.Second }, "renewed more often"},
		{func(o *Options) { o.Redis.URL = "" }, "no Redis URL"},
		{func(o *Options) { o.ServerKeys = []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nxx") }, "END"},
	} {
		o := validOptions()
		c.change(&o)
		_, err := New(o, zap.NewNop(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
	if _, err := New(validOptions(), zap.NewNop(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestServerKeys(t *testing.T) {
	k, err := keyring.GenerateServerKey("T", "server@example", keyring.ServerKeyOptions{RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.ArmoredPublic()
	priv, _ := k.ArmoredPrivate()
	for _, data := range [][]byte{pub, priv, append([]byte("comment\n"), pub...), k.Public().Ring()} {
		keys, err := parseServerKeys(data)
		if err != nil {
			t.Fatal(err)
		}
		if keys.fingerprint != k.Fingerprint() || string(keys.current) != string(k.Public().Ring()) || keys.trust == nil {
			t.Fatalf("keys %+v", keys)
		}
	}
	if keys, err := parseServerKeys(nil); err != nil || keys.trust != nil {
		t.Fatalf("no keys: %+v %v", keys, err)
	}
	if _, err := parseServerKeys(append(pub, pub...)); err == nil {
		t.Fatal("the same key twice accepted")
	}
}

func TestSequence(t *testing.T) {
	st := &seqState{done: 3}
	for _, c := range []struct {
		seq      uint64
		seen     bool
		done     uint64
		aheadLen int
	}{
		{2, true, 3, 0},
		{4, false, 4, 0},
		{7, false, 4, 1}, // a gap: 5 and 6 lost on the way
		{7, true, 4, 1},
		{6, false, 4, 2},
		{5, false, 7, 0}, // the gap filled
		{8, false, 8, 0},
	} {
		if got := st.seen(c.seq); got != c.seen {
			t.Fatalf("seen(%d) = %v", c.seq, got)
		}
		if !c.seen && !st.sequence(c.seq) {
			t.Fatalf("sequence(%d) refused", c.seq)
		}
		if st.done != c.done || len(st.ahead) != c.aheadLen {
			t.Fatalf("after %d: done %d ahead %v", c.seq, st.done, st.ahead)
		}
	}
	// Another instance handled the gap 9–10 meanwhile: what this one
	// handled past it follows on.
	st.sequence(11)
	st.sequence(12)
	st.catchUp(10)
	if st.done != 12 || len(st.ahead) != 0 || st.persisted != 10 {
		t.Fatalf("after catching up: done %d ahead %v persisted %d", st.done, st.ahead, st.persisted)
	}
	st.catchUp(5)
	if st.done != 12 {
		t.Fatalf("a lower stored count moved done to %d", st.done)
	}
	far := &seqState{}
	ok := true
	for i := uint64(2); i < maxAhead+3 && ok; i++ {
		ok = far.sequence(i)
	}
	if ok {
		t.Fatal("unbounded handling past a gap")
	}
}

// TestRunAndStop starts the server against a real router and Redis,
// checks it becomes ready and registers its host's lease, and stops it:
// every goroutine it started ends (TestMain checks with goleak).
func TestRunAndStop(t *testing.T) {
	r := testkit.StartRedis(t, testkit.RedisOptions{})
	routerAddr, routerAdmin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	testkit.StartProcess(t, "router", routerBin, []string{"-listen", routerAddr, "-admin", routerAdmin, "-log-level", "warn"}, []string{"KONTALK_SECRET=s"})
	testkit.WaitReady(t, "http://"+routerAdmin+"/readyz", 10*time.Second)
	o := validOptions()
	o.Router, o.Redis.URL = routerAddr, r.URL()
	reg := admin.NewRegistry()
	srv, err := New(o, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, "ready", func() bool { return srv.Ready(context.Background()) == nil })
	st, err := store.Open(store.Options{URL: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testkit.Eventually(t, 10*time.Second, "lease renewed", func() bool {
		live, err := st.Hosts.Live(context.Background(), []string{o.Host})
		return err == nil && live[0]
	})
	if z := srv.Statez(); !z.Connected || z.Instance != o.Name {
		t.Fatalf("statez %+v", z)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

// FuzzParseServerKeys checks that a key file never makes sm panic.
func FuzzParseServerKeys(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxsBN\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n-----END PGP"))
	f.Add([]byte{0x99, 0x01, 0x0d, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseServerKeys(data)
		if err == nil && len(keys.current) > 0 && keys.trust == nil {
			t.Fatal("a current key without trust")
		}
	})
}
