package server

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
)

const (
	testSecret = "router-secret"
	timeout    = 10 * time.Second
)

var routerBin string

// TestMain builds the router (the servers under test run in this
// process, beside real routers) and checks that no goroutine outlives
// the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s2s-server-test")
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
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startRouter runs a router process and returns its address.
func startRouter(t testing.TB) string {
	t.Helper()
	addr, adm := testkit.FreeAddr(t), testkit.FreeAddr(t)
	testkit.StartProcess(t, "router", routerBin, []string{"-listen", addr, "-admin", adm, "-log-level", "warn"},
		[]string{"KONTALK_SECRET=" + testSecret})
	testkit.WaitReady(t, "http://"+adm+"/readyz", timeout)
	return addr
}

// runServer runs s2s in this process until the test ends, and checks
// that Run returns.
func runServer(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.Secret = testSecret
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	s, err := New(opts, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(timeout):
			t.Error("Run did not return")
		}
	})
	<-s.Ready()
	return s
}

// stub is a component standing in for the network side of a host.
type stub struct {
	*component.Client
	mu  sync.Mutex
	got []string
}

func startStub(t testing.TB, router, name string, binds ...component.Bind) *stub {
	t.Helper()
	st := &stub{}
	c, err := component.New(component.Config{Addr: router, Name: name, Secret: testSecret, Binds: binds,
		OnStanza: func(top *xml.Top) {
			st.mu.Lock()
			st.got = append(st.got, string(top.Raw))
			st.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	st.Client = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-c.Ready():
	case <-time.After(timeout):
		t.Fatalf("%s did not connect", name)
	}
	return st
}

func (st *stub) send(t testing.TB, raw string) {
	t.Helper()
	if err := st.Send(context.Background(), []byte(raw)); err != nil {
		t.Fatal(err)
	}
}

func (st *stub) expect(t testing.TB, substrs ...string) string {
	t.Helper()
	var found string
	testkit.Eventually(t, timeout, fmt.Sprintf("%s receives %q", st.Name(), substrs), func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, g := range st.got {
			ok := true
			for _, s := range substrs {
				ok = ok && strings.Contains(g, s)
			}
			if ok {
				found = g
				return true
			}
		}
		return false
	})
	return found
}

// Two servers of two domains federate in this process over dialback in
// the clear, close their links when idle, bounce what cannot leave, and
// stop without leaving a goroutine behind.
func TestFederationInProcess(t *testing.T) {
	routerA, routerB := startRouter(t), startRouter(t)
	lnA, lnB := testkit.FreeAddr(t), testkit.FreeAddr(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts and never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	common := Options{AllowPlaintext: true, DialbackSecret: "shared", IdleTimeout: 500 * time.Millisecond,
		ConnectTimeout: time.Second}
	optsA, optsB := common, common
	optsA.Listen, optsA.Router, optsA.Network, optsA.Host = lnA, routerA, "a.example", "h.a.example"
	optsA.Peers = map[string]string{"b.example": lnB, "nowhere.example": testkit.FreeAddr(t), "silent.example": silent.Addr().String()}
	optsB.Listen, optsB.Router, optsB.Network, optsB.Host = lnB, routerB, "b.example", "h.b.example"
	optsB.Peers = map[string]string{"a.example": lnA}
	a, b := runServer(t, optsA), runServer(t, optsB)
	testkit.Eventually(t, timeout, "both ready", func() bool { return a.CheckReady() == nil && b.CheckReady() == nil })
	userA := startStub(t, routerA, "resolver.h.a.example", component.Bind{Name: "a.example"})
	userB := startStub(t, routerB, "resolver.h.b.example", component.Bind{Name: "b.example"})

	userA.send(t, "<message from='ann@a.example/x' to='bob@b.example' id='ab' type='chat'><body>hi bob</body></message>")
	if got := userB.expect(t, "id='ab'"); got != "<message from='ann@a.example/x' to='bob@b.example' id='ab' type='chat'><body>hi bob</body></message>" {
		t.Errorf("b received %s", got)
	}
	userB.send(t, "<message from='bob@b.example/y' to='ann@a.example' id='ba' type='chat'><body>hi ann</body></message>")
	userA.expect(t, "id='ba'", "hi ann")
	for _, s := range []*Server{a, b} {
		var methods []string
		for _, o := range s.Connz().Out {
			methods = append(methods, o.Method)
		}
		if len(methods) != 1 || methods[0] != methodDialback {
			t.Errorf("%s: outbound links %v", s.opts.Network, methods)
		}
	}

	t.Run("idle links close", func(t *testing.T) {
		testkit.Eventually(t, timeout, "idle links closed", func() bool {
			za, zb := a.Connz(), b.Connz()
			return len(za.Out) == 0 && len(zb.Out) == 0 && len(za.In) == 0 && len(zb.In) == 0
		})
		// Both sides time out alike: whichever fires first closes the
		// links, and the other records them closed by the peer.
		idle := 0
		for _, s := range []*Server{a, b} {
			for _, c := range s.Connz().Recent {
				if c.Reason == "idle" {
					idle++
				}
			}
		}
		if idle == 0 {
			t.Errorf("no close recorded as idle: %+v %+v", a.Connz().Recent, b.Connz().Recent)
		}
		// A new link comes up for the next stanza.
		userA.send(t, "<message from='ann@a.example/x' to='bob@b.example' id='again' type='chat'><body>back</body></message>")
		userB.expect(t, "id='again'")
	})

	t.Run("bounces", func(t *testing.T) {
		userA.send(t, "<message from='ann@a.example/x' to='zed@nowhere.example' id='nf' type='chat'><body>x</body></message>")
		userA.expect(t, "id='nf'", "type='error'", "remote-server-not-found")
		userA.send(t, "<message from='ann@a.example/x' to='zed@silent.example' id='to' type='chat'><body>x</body></message>")
		userA.expect(t, "id='to'", "type='error'", "remote-server-timeout")
		// Errors are never answered.
		userA.send(t, "<message from='ann@a.example/x' to='zed@nowhere.example' id='err' type='error'/>")
		userA.send(t, "<message from='ann@a.example/x' to='bob@b.example' id='after' type='chat'><body>x</body></message>")
		userB.expect(t, "id='after'")
		if got := userA.expect(t, "id='nf'"); strings.Contains(got, "id='err'") {
			t.Error("an error was answered")
		}
	})
}

// Until s2s has read the network directory it cannot tell another host
// of the network from a federated server, so it bounces what it is handed
// (for the sender to try again) instead of sending it to the federation.
func TestDirectoryNotReadYet(t *testing.T) {
	router := startRouter(t)
	s := runServer(t, Options{AllowPlaintext: true, DialbackSecret: "shared", Router: router,
		Network: "n.example", Host: "p.n.example", ConnectTimeout: time.Second,
		// Nobody answers at either address: the directory is never read,
		// and a federated link to q.n.example cannot be set up.
		RedisURL: "redis://" + testkit.FreeAddr(t) + "/0",
		Peers:    map[string]string{"q.n.example": testkit.FreeAddr(t)}})
	testkit.Eventually(t, timeout, "s2s bound at the router", s.router.Connected)
	resolver := startStub(t, router, "resolver-1.p.n.example", component.Bind{Name: "n.example"})
	resolver.send(t, "<message from='alice@n.example/phone' to='bob@q.n.example' id='early' type='chat'><body>x</body></message>")
	resolver.expect(t, "id='early'", "type='error'", "service-unavailable", "network directory")
	if n := len(s.Connz().Out); n != 0 {
		t.Errorf("%d outbound links while the directory was unread", n)
	}
}

// FuzzInboundStream feeds arbitrary bytes to an inbound stream after a
// valid header: the server answers or closes, never crashes, and keeps
// accepting streams.
func FuzzInboundStream(f *testing.F) {
	for _, s := range []string{
		"<db:result from='peer.example' to='a.example'>abc</db:result>",
		"<db:verify from='peer.example' to='a.example' id='x'>abc</db:verify>",
		"<db:result from='peer.example' to='a.example' type='valid'/>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>",
		"<message from='x@peer.example' to='y@a.example'/>",
		"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
		"<stream:error><bad-format xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
		"<db:result from='a.example' to='a.example'>k</db:result><presence/>",
	} {
		f.Add(s)
	}
	s := runServer(f, Options{AllowPlaintext: true, Network: "a.example", Host: "h.a.example",
		Router: "127.0.0.1:1", HandshakeTimeout: 300 * time.Millisecond, ConnectTimeout: 300 * time.Millisecond,
		Peers: map[string]string{"peer.example": "127.0.0.1:1"}})
	header := "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.example' to='a.example' version='1.0'>"
	session := func(t *testing.T, input string) string {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(timeout))
		io.WriteString(nc, header+input+"</stream:stream>")
		out, _ := io.ReadAll(nc)
		return string(out)
	}
	f.Fuzz(func(t *testing.T, input string) {
		session(t, input)
		if got := session(t, ""); !strings.Contains(got, "<stream:features>") {
			t.Fatalf("the server stopped answering after %q: %q", input, got)
		}
	})
}
