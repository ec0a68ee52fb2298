package resolve

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
)

const (
	network = "kontalk.test"
	host    = "node1.kontalk.test"
	other   = "node2.kontalk.test"
	secret  = "s"
)

var routerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "resolver-test")
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

func options(router, redisURL string) Options {
	return Options{Name: "resolver-1." + host, Host: host, Network: network, Router: router, Secret: secret, Redis: store.Options{URL: redisURL}, HostsEvery: 50 * time.Millisecond}
}

func TestClassify(t *testing.T) {
	r, err := New(options("127.0.0.1:1", "redis://127.0.0.1:1/0"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for to, want := range map[string]string{
		network:                       "local " + host,
		network + "/res":              "local " + host + "/res",
		"probe@" + network:            "local probe@" + host,
		"PUSH@" + network:             "local push@" + host,
		"probe@" + network + "/x":     "user probe x",
		"abc@" + network:              "user abc ",
		"ABC@" + network + "/Phone":   "user abc Phone",
		"abc@KONTALK.test":            "user abc ",
		"abc@elsewhere.example":       "drop",
		"Ä@" + network:                "user ä ",
		"bad\u0000local@" + network:   "drop",
		"x@" + network + "/r/with/sl": "user x r/with/sl",
	} {
		top, err := xml.ParseTop([]byte("<message to='"+strings.ReplaceAll(to, "\u0000", "&#1;")+"'/>"), xml.Scope{})
		var got string
		if err != nil {
			got = "drop"
		} else if it, ok := r.classify(top); !ok {
			got = "drop"
		} else if it.user == "" {
			got = "local " + it.to
		} else {
			got = "user " + it.user + " " + it.resource
		}
		if got != want {
			t.Errorf("classify(%q) = %q, want %q", to, got, want)
		}
	}
}

// peer is a component recording what the router delivers to it.
type peer struct {
	*component.Client
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	got    []string
}

func startPeer(t *testing.T, router, name string, binds ...component.Bind) *peer {
	t.Helper()
	p := &peer{done: make(chan struct{})}
	c, err := component.New(component.Config{Addr: router, Name: name, Secret: secret, Binds: binds,
		OnStanza: func(top *xml.Top) {
			p.mu.Lock()
			p.got = append(p.got, string(top.Raw))
			p.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	p.Client = c
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.done); c.Run(ctx) }()
	t.Cleanup(func() { p.cancel(); <-p.done })
	testkit.Eventually(t, 10*time.Second, name+" connected", c.Connected)
	return p
}

func (p *peer) expect(t *testing.T, substrs ...string) string {
	t.Helper()
	var found string
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("a stanza with %q at %s", substrs, p.Name()), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
	next:
		for i, s := range p.got {
			for _, sub := range substrs {
				if !strings.Contains(s, sub) {
					continue next
				}
			}
			found = s
			p.got = append(p.got[:i], p.got[i+1:]...)
			return true
		}
		return false
	})
	return found
}

// TestResolve runs the resolver against a real router and Redis: users'
// stanzas go to the host of their session or their home, the domain and
// services to this host's sm, unknown users get item-not-found; the
// payload is untouched.
func TestResolve(t *testing.T) {
	rd := testkit.StartRedis(t, testkit.RedisOptions{})
	routerAddr, routerAdmin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	testkit.StartProcess(t, "router", routerBin, []string{"-listen", routerAddr, "-admin", routerAdmin, "-log-level", "warn"}, []string{"KONTALK_SECRET=" + secret})
	testkit.WaitReady(t, "http://"+routerAdmin+"/readyz", 10*time.Second)

	st, err := store.Open(store.Options{URL: rd.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, h := range []string{host, other, "node3.kontalk.test"} {
		st.Hosts.Register(ctx, h, store.Host{Enabled: true})
	}
	st.Hosts.Renew(ctx, host, "sm-1", time.Minute)
	st.Hosts.Renew(ctx, other, "sm-1", time.Minute)
	mk := func(u, home string) { st.Users.Create(ctx, u, store.User{Home: home}) }
	mk("local", host)
	mk("remote", host)
	mk("stale", other)
	mk("offline", other)
	st.Sessions.Start(ctx, "local", "phone", store.Session{SID: "1", C2S: "c2s-1." + host, Host: host})
	st.Sessions.Start(ctx, "remote", "pc", store.Session{SID: "2", C2S: "c2s-1." + other, Host: other, Avail: true})
	// node3 has no lease: its session is ignored.
	st.Sessions.Start(ctx, "stale", "x", store.Session{SID: "3", C2S: "c2s-1.node3.kontalk.test", Host: "node3.kontalk.test"})

	reg := prometheus.NewRegistry()
	r, err := New(options(routerAddr, rd.URL()), zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	testkit.Eventually(t, 10*time.Second, "resolver ready", func() bool { return r.Ready(ctx) == nil })

	sm1 := startPeer(t, routerAddr, "sm-1."+host, component.Bind{Name: host, Multi: true})
	sm2 := startPeer(t, routerAddr, "sm-1."+other, component.Bind{Name: other})
	sender := startPeer(t, routerAddr, "c2s-9."+host)
	send := func(s string) {
		t.Helper()
		if err := sender.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	payload := "<body>a &amp; b</body><e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>AA&#xD;BB</e2e>"
	send("<message from='a@" + network + "/r' to='local@" + network + "/phone' id='1'>" + payload + "</message>")
	if got := sm1.expect(t, "id='1'"); got != "<message from='a@"+network+"/r' to='local@"+host+"/phone' id='1'>"+payload+"</message>" {
		t.Fatalf("rewritten %s", got)
	}
	send("<message from='a@" + network + "/r' to='LOCAL@" + network + "' id='2'/>")
	sm1.expect(t, "id='2'", "to='local@"+host+"'")
	send("<message from='a@" + network + "/r' to='remote@" + network + "' id='3'/>")
	sm2.expect(t, "id='3'", "to='remote@"+other+"'")
	// A full JID without its session goes home.
	send("<message from='a@" + network + "/r' to='remote@" + network + "/gone' id='4'/>")
	sm1.expect(t, "id='4'", "to='remote@"+host+"/gone'")
	send("<message from='a@" + network + "/r' to='stale@" + network + "' id='5'/>")
	sm2.expect(t, "id='5'", "to='stale@"+other+"'")
	send("<iq from='a@" + network + "/r' to='" + network + "' id='6' type='get'/>")
	sm1.expect(t, "id='6'", "to='"+host+"'")
	send("<iq from='a@" + network + "/r' to='probe@" + network + "' id='7' type='get'/>")
	sm1.expect(t, "id='7'", "to='probe@"+host+"'")
	send("<message from='c2s-9." + host + "' to='nobody@" + network + "' id='8'><body>?</body></message>")
	if got := sender.expect(t, "id='8'"); !strings.Contains(got, "type='error'") || !strings.Contains(got, "item-not-found") || !strings.Contains(got, "from='nobody@"+network+"'") {
		t.Fatalf("bounce %s", got)
	}
	// Errors are never answered.
	send("<message from='c2s-9." + host + "' to='nobody@" + network + "' id='9' type='error'/>")
	send("<message from='c2s-9." + host + "' to='nobody@" + network + "' id='10'/>")
	sender.expect(t, "id='10'")
	sender.mu.Lock()
	for _, s := range sender.got {
		if strings.Contains(s, "id='9'") {
			t.Fatalf("an error was answered: %s", s)
		}
	}
	sender.mu.Unlock()
	// A session that starts is seen at once: nothing is cached.
	st.Sessions.Start(ctx, "offline", "tab", store.Session{SID: "5", C2S: "c2s-1." + host, Host: host})
	send("<message from='a@" + network + "/r' to='offline@" + network + "' id='11'/>")
	sm1.expect(t, "id='11'", "to='offline@"+host+"'")
}

// BenchmarkResolve measures the resolver's work per stanza against a
// real Redis: the lookups of a batch share one round trip.
func BenchmarkResolve(b *testing.B) {
	rd := testkit.StartRedis(b, testkit.RedisOptions{})
	st, err := store.Open(store.Options{URL: rd.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	st.Hosts.Register(ctx, host, store.Host{Enabled: true})
	st.Hosts.Renew(ctx, host, "sm", time.Hour)
	const users = 1000
	raws := make([][]byte, users)
	for i := range users {
		u := fmt.Sprintf("%040x", i)
		st.Users.Create(ctx, u, store.User{Home: host})
		st.Sessions.Start(ctx, u, "phone", store.Session{SID: u, C2S: "c2s-1." + host, Host: host, Avail: true})
		raws[i] = []byte("<message from='a@" + network + "/r' to='" + u + "@" + network + "' id='m' type='chat'><body>hello</body>" +
			"<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>" + strings.Repeat("QUJD", 100) + "</e2e></message>")
	}
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			o := options("127.0.0.1:1", rd.URL())
			o.HostsEvery = time.Hour
			r, err := New(o, zap.NewNop(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer r.store.Close()
			var sent int
			r.send = func(_ context.Context, raw []byte) error { sent += len(raw); return nil }
			chunk := make([][]byte, batch)
			lookups := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				for j := range chunk {
					chunk[j] = raws[(i+j)%users]
				}
				r.resolve(ctx, chunk)
				lookups++
			}
			b.StopTimer()
			b.ReportMetric(float64(lookups)/float64(b.N), "roundtrips/stanza")
			if sent == 0 {
				b.Fatal("nothing resolved")
			}
		})
	}
}

// FuzzClassify feeds 'to' addresses to the resolver's reading of them:
// it never panics, and what it keeps is a user of N or the domain.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{network, "probe@" + network, "a@" + network + "/r", "A@KONTALK.TEST", "x@y", "@" + network, "a@" + network + "/", "é@" + network} {
		f.Add(s)
	}
	r, err := New(options("127.0.0.1:1", "redis://127.0.0.1:1/0"), zap.NewNop(), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer r.store.Close()
	f.Fuzz(func(t *testing.T, to string) {
		raw := xml.AppendEscapedAttr([]byte("<message to='"), to, '\'')
		top, err := xml.ParseTop(append(raw, "'/>"...), xml.Scope{})
		if err != nil {
			return
		}
		it, ok := r.classify(top)
		if !ok {
			return
		}
		if it.user == "" && it.to != host && !strings.HasPrefix(it.to, host+"/") && !strings.HasSuffix(it.to, "@"+host) {
			t.Fatalf("%q resolved to %q", to, it.to)
		}
	})
}
