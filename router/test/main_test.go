// Package test runs the router as a real process and talks to it over
// TCP with our own component client, raw bytes, gosrc.io/xmpp and slixmpp.
package test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
)

const (
	secret  = "s3cret"
	timeout = 10 * time.Second
)

var routerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "router-test")
	if err != nil {
		log.Fatal(err)
	}
	routerBin, err = testkit.Build(context.Background(), "..", dir, "router")
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// router is a router process under test.
type router struct {
	addr, admin string
	proc        *testkit.Process
}

func startRouter(t *testing.T, args ...string) *router {
	t.Helper()
	r := &router{addr: testkit.FreeAddr(t), admin: testkit.FreeAddr(t)}
	args = append([]string{"-listen", r.addr, "-admin", r.admin, "-log-format", "console", "-log-level", "debug"}, args...)
	r.proc = testkit.StartProcess(t, "router", routerBin, args, []string{"KONTALK_SECRET=" + secret})
	testkit.WaitReady(t, "http://"+r.admin+"/readyz", timeout)
	return r
}

// get fetches an admin page.
func (r *router) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + r.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// comp is one of our components connected with component.Client,
// recording what it receives.
type comp struct {
	*component.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	received []string
	routes   []string
	signal   chan struct{}
}

func startComp(t *testing.T, r *router, name string, binds ...component.Bind) *comp {
	t.Helper()
	return startCompSecret(t, r, name, secret, binds...)
}

func startCompSecret(t *testing.T, r *router, name, secret string, binds ...component.Bind) *comp {
	t.Helper()
	c := &comp{done: make(chan struct{}), signal: make(chan struct{}, 1)}
	cl, err := component.New(component.Config{
		Addr:   r.addr,
		Name:   name,
		Secret: secret,
		Binds:  binds,
		OnStanza: func(top *xml.Top) {
			c.mu.Lock()
			c.received = append(c.received, string(top.Raw))
			c.mu.Unlock()
			c.poke()
		},
		OnRoute: func(n string, up bool) {
			c.mu.Lock()
			c.routes = append(c.routes, fmt.Sprintf("%s:%v", n, up))
			c.mu.Unlock()
			c.poke()
		},
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Client = cl
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		cl.Run(ctx)
	}()
	t.Cleanup(c.stop)
	select {
	case <-cl.Ready():
	case <-time.After(timeout):
		t.Fatalf("component %s did not connect", name)
	}
	return c
}

func (c *comp) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *comp) stop() {
	c.cancel()
	<-c.done
}

func (c *comp) send(t *testing.T, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Send(ctx, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// expect waits until a received stanza contains substr and returns it.
func (c *comp) expect(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		for _, s := range c.received {
			if strings.Contains(s, substr) {
				c.mu.Unlock()
				return s
			}
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("%s: no stanza with %q; received:\n%s", c.Name(), substr, strings.Join(c.snapshot(), "\n"))
		}
	}
}

// waitCount waits until n stanzas matching substr have arrived.
func (c *comp) waitCount(t *testing.T, substr string, n int) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		var got []string
		for _, s := range c.snapshot() {
			if strings.Contains(s, substr) {
				got = append(got, s)
			}
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("%s: %d stanzas with %q, want %d", c.Name(), len(got), substr, n)
		}
	}
}

func (c *comp) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.received...)
}

func (c *comp) routeEvents() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.routes...)
}

func (c *comp) expectRoute(t *testing.T, event string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, e := range c.routeEvents() {
			if e == event {
				return
			}
		}
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("%s: no route event %s; got %v", c.Name(), event, c.routeEvents())
		}
	}
}

// rawComponent opens a component stream by hand and completes the
// handshake, for tests that must control every byte.
func rawComponent(t *testing.T, r *router, name, secret string) *testkit.Conn {
	t.Helper()
	conn := testkit.Dial(t, r.addr)
	conn.Send(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='` + name + `'>`)
	conn.Expect("<stream:stream", timeout)
	header := conn.Expect(">", timeout)
	i := strings.Index(header, "id='")
	if i < 0 {
		t.Fatalf("no stream id in %q", header)
	}
	id := header[i+4:]
	id = id[:strings.IndexByte(id, '\'')]
	conn.Send("<handshake>" + component.Handshake(id, secret) + "</handshake>")
	conn.Expect("<handshake/>", timeout)
	return conn
}

// streamError extracts the condition of a stream error from what a
// connection received.
func streamError(got string) string {
	i := strings.Index(got, "<stream:error><")
	if i < 0 {
		return ""
	}
	rest := got[i+len("<stream:error><"):]
	return rest[:strings.IndexAny(rest, " />")]
}
