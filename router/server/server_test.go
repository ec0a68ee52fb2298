package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/xml"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testSecret = "secret"

// startServer runs a router in this process and stops it when the test
// ends, checking Run returned.
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	if opts.Secret == "" {
		opts.Secret = testSecret
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
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	<-s.Ready()
	return s
}

// client runs a component.Client until the test ends and returns the
// stanzas it receives on a channel.
func client(t testing.TB, s *Server, name string, binds ...component.Bind) (*component.Client, <-chan string) {
	t.Helper()
	got := make(chan string, 1024)
	c, err := component.New(component.Config{
		Addr: s.Addr().String(), Name: name, Secret: testSecret, Binds: binds,
		OnStanza: func(top *xml.Top) { got <- string(top.Raw) },
	})
	if err != nil {
		t.Fatal(err)
	}
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
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not connect", name)
	}
	return c, got
}

func TestRoutingInProcess(t *testing.T) {
	s := startServer(t, Options{})
	a, _ := client(t, s, "a.example")
	_, bGot := client(t, s, "b.example", component.Bind{Name: "multi.example", Multi: true})
	ctx := context.Background()
	for i := range 100 {
		if err := a.Send(ctx, fmt.Appendf(nil, "<message from='a.example' to='u%d@multi.example' id='%d'/>", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		select {
		case s := <-bGot:
			if !strings.Contains(s, fmt.Sprintf("id='%d'", i)) {
				t.Fatalf("stanza %d: got %s (order lost)", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("stanza %d not delivered", i)
		}
	}
	z := s.Routez()
	if len(z.Routes) != 3 {
		t.Errorf("routes %+v", z.Routes)
	}
}

// A stanza as large as the limit allows, one run of text, is routed: the
// text limit follows the stanza limit (a large base64 payload).
func TestLargeStanzaRoutes(t *testing.T) {
	s := startServer(t, Options{MaxStanza: 1 << 20})
	a, _ := client(t, s, "a.example")
	_, bGot := client(t, s, "b.example")
	body := strings.Repeat("QUJD", 200<<10) // 800 KiB
	if err := a.Send(context.Background(), []byte("<message from='a.example' to='b.example'><body>"+body+"</body></message>")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-bGot:
		if len(got) < len(body) {
			t.Fatalf("got %d bytes", len(got))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("large stanza not delivered")
	}
}

// The stream error a component gets for a bad stanza, read on a raw
// connection after the handshake.
func TestProtocolErrorsInProcess(t *testing.T) {
	s := startServer(t, Options{Components: map[string]string{"tp.example": "tp"}})
	for _, tc := range []struct {
		name, secret, send, want string
	}{
		{"tp.example", "tp", "<message from='other.example' to='x@y'/>", "invalid-from"},
		{"tp.example", "tp", "<message to='x@y'/></stream:stream>", "<message to='tp.example' from='x@y' type='error'>"},
		{"tp.example", "tp", "<message from='' to='x@y'/>", "invalid-from"},
		{"tp.example", "tp", "<presence from='tp.example' to='x@y' type='unavailable'><route xmlns='" + component.NS + "'/></presence>", "reserved for the router"},
		{"tp.example", "tp", "<foo/>", "unsupported-stanza-type"},
		{"tp.example", "tp", "<message xmlns='urn:other' from='tp.example' to='x@y'/>", "invalid-namespace"},
		{"tp.example", "tp", "<bind xmlns='" + component.NS + "' name='sub.tp.example' id='1'/></stream:stream>", "<bind xmlns='" + component.NS + "' name='sub.tp.example' id='1'/>"},
		{"tp.example", "tp", "<bind xmlns='" + component.NS + "' name='elsewhere.example' id='1'/></stream:stream>", "<not-allowed"},
		{"tp.example", "tp", "<bind xmlns='" + component.NS + "' name='x.tp.example' default='true' id='1'/></stream:stream>", "only the server's components may take the default route"},
		{"t.example", testSecret, "<unbind xmlns='" + component.NS + "' name='t.example' id='1'/></stream:stream>", "<not-allowed"},
		{"t.example", testSecret, "<unbind xmlns='" + component.NS + "' name='u.example' id='1'/></stream:stream>", "<item-not-found"},
		{"t.example", testSecret, "<bind xmlns='" + component.NS + "' name='tp.example' id='1'/></stream:stream>", "reserved for a configured component"},
	} {
		t.Run(tc.send, func(t *testing.T) {
			got := rawSession(t, s, tc.name, tc.secret, tc.send)
			if !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q in it", got, tc.want)
			}
		})
	}
}

// rawSession authenticates by hand, sends raw and returns everything
// received after the handshake until the router closes the connection.
func rawSession(t *testing.T, s *Server, name, secret, raw string) string {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='%s'>", name)
	r := xml.NewReader(nc, xml.Limits{})
	if top, err := r.Next(); err != nil || top.Kind != xml.KindOpen {
		t.Fatalf("header: %v", err)
	}
	fmt.Fprintf(nc, "<handshake>%s</handshake>", component.Handshake(r.Header().Get("id"), secret))
	if top, err := r.Next(); err != nil || !top.Is("handshake") {
		t.Fatalf("handshake: %v %v", top, err)
	}
	io.WriteString(nc, raw)
	var out bytes.Buffer
	for {
		top, err := r.Next()
		if err != nil {
			return out.String()
		}
		out.Write(top.Raw)
	}
}

func TestPickIsStableAndSpread(t *testing.T) {
	conns := []*conn{{id: 1, seed: fnv64String("sm-1")}, {id: 2, seed: fnv64String("sm-2")}, {id: 3, seed: fnv64String("sm-3")}}
	rt := &route{multi: true, conns: conns}
	count := map[uint64]int{}
	owner := map[string]uint64{}
	for i := range 3000 {
		bare := fmt.Appendf(nil, "user%d@example", i)
		c := rt.pick(bare)
		count[c.id]++
		owner[string(bare)] = c.id
		if rt.pick(bare) != c {
			t.Fatal("pick is not deterministic")
		}
	}
	for id, n := range count {
		if n < 800 || n > 1200 {
			t.Errorf("instance %d got %d of 3000", id, n)
		}
	}
	smaller := &route{multi: true, conns: []*conn{conns[0], conns[2]}}
	for bare, id := range owner {
		if id != 2 && smaller.pick([]byte(bare)).id != id {
			t.Fatalf("%s moved though its instance stayed", bare)
		}
	}
}

// FuzzComponentStream feeds arbitrary bytes to an authenticated
// connection: the router must answer or close, never crash, and keep
// serving a well-behaved component afterwards.
func FuzzComponentStream(f *testing.F) {
	for _, s := range []string{
		"<message from='f.example' to='x@f.example'/>",
		"<bind xmlns='" + component.NS + "' name='b.f.example' multi='true' id='1'/>",
		"<unbind xmlns='" + component.NS + "' name='b.f.example' id='2'/>",
		"<iq from='f.example' to='nowhere' type='get' id='3'><q xmlns='urn:x'/></iq>",
		"<presence from='f.example/x' to='f.example'><route xmlns='" + component.NS + "'/></presence>",
		"</stream:stream>",
		"<message from='f.example' to='&#x41;@f.example'>\xff</message>",
	} {
		f.Add(s)
	}
	s := startServer(f, Options{Components: map[string]string{"f.example": "f"}, HandshakeTimeout: time.Second})
	f.Fuzz(func(t *testing.T, raw string) {
		rawSession(t, s, "f.example", "f", raw+"</stream:stream>")
		// The router still routes.
		got := rawSession(t, s, "f.example", "f", "<message from='f.example' to='y@f.example' id='ok'/></stream:stream>")
		if !strings.Contains(got, "id='ok'") {
			t.Fatalf("router stopped routing after %q: %q", raw, got)
		}
	})
}

func BenchmarkRouteHop(b *testing.B) {
	s := startServer(b, Options{})
	const msg = `<message from='alice@a.example/phone' to='bob@b.example' type='chat' id='m'><body>hello</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/></message>`
	recv := make(chan struct{}, 4096)
	bcl, err := component.New(component.Config{Addr: s.Addr().String(), Name: "b.example", Secret: testSecret,
		OnStanza: func(*xml.Top) { recv <- struct{}{} }})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := client(b, s, "a.example")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); bcl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-bcl.Ready()
	raw := []byte(msg)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			a.Send(context.Background(), raw)
		}
	}()
	for range b.N {
		<-recv
	}
}
