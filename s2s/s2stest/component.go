package s2stest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Component is a component connected to a Host's router with the server
// secret, standing in for resolver, sm or c2s: it sends raw stanzas and
// records every stanza it receives.
type Component struct {
	*component.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	received []string
	signal   chan struct{}
}

// Component connects a stand-in named name, binding binds, and waits
// until it is bound. It disconnects when the test ends.
func (h *Host) Component(name string, binds ...component.Bind) *Component {
	h.t.Helper()
	c := &Component{done: make(chan struct{}), signal: make(chan struct{}, 1)}
	cl, err := component.New(component.Config{
		Addr:   h.RouterAddr,
		Name:   name,
		Secret: Secret,
		Binds:  binds,
		OnStanza: func(top *xml.Top) {
			c.mu.Lock()
			c.received = append(c.received, string(top.Raw))
			c.mu.Unlock()
			c.poke()
		},
		Limits:     xml.Limits{MaxElementBytes: 1 << 20, MaxTextBytes: 1 << 20},
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	c.Client = cl
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		cl.Run(ctx)
	}()
	h.t.Cleanup(c.Stop)
	select {
	case <-cl.Ready():
	case <-time.After(Timeout):
		h.t.Fatalf("component %s did not connect", name)
	}
	return c
}

func (c *Component) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Stop disconnects the component.
func (c *Component) Stop() {
	c.cancel()
	<-c.done
}

// Send queues a raw stanza for the router.
func (c *Component) Send(t testing.TB, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.Client.Send(ctx, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// Sendf is Send with a format.
func (c *Component) Sendf(t testing.TB, format string, args ...any) {
	c.Send(t, fmt.Sprintf(format, args...))
}

// Expect waits until a received stanza contains every one of substrs
// and returns it.
func (c *Component) Expect(t testing.TB, substrs ...string) string {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		for _, s := range c.Received() {
			if ContainsAll(s, substrs) {
				return s
			}
		}
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("%s: no stanza with %q; received:\n%s", c.Name(), substrs, strings.Join(c.Received(), "\n"))
		}
	}
}

// WaitCount waits until n received stanzas contain substr, and returns
// those seen.
func (c *Component) WaitCount(t testing.TB, substr string, n int) []string {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		var got []string
		for _, s := range c.Received() {
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

// Received returns what the component received so far.
func (c *Component) Received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.received...)
}

// Count returns how many received stanzas contain substr.
func (c *Component) Count(substr string) int {
	n := 0
	for _, s := range c.Received() {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// ContainsAll reports whether s contains every one of substrs.
func ContainsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
