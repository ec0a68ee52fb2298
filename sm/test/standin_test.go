package test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Client is one logged-in client as a scenario sees it. The stand-in
// c2s implements it; a real c2s with XMPP clients can too.
type Client interface {
	// JID is the session's full JID, Bare the user's bare JID.
	JID() string
	Bare() string
	// Send sends a stanza as the client would; the server sets 'from'.
	Send(t testing.TB, stanza string)
	// Sync waits until the server has acknowledged everything sent.
	Sync(t testing.TB)
	// Expect waits for a stanza from the server containing every one of
	// substrs, takes it (later Expects do not see it) and returns it.
	Expect(t testing.TB, substrs ...string) string
	// Received returns every stanza received so far, in order.
	Received() []string
	// Close ends the session as a client closing its stream does.
	Close(t testing.TB)
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// standin is a c2s instance as sm sees it: a component named c2s-N.H
// speaking the session protocol for its clients.
type standin struct {
	name   string
	comp   *component.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	clients  map[string]*fakeClient // by sid
	replies  map[string]chan *envelope.Envelope
	everUp   bool
	stopped  bool
	routesUp map[string]bool
	// plain receives stanzas that are not envelopes.
	plain func(*xml.Top)
}

func startStandin(t testing.TB, routerAddr, name string) *standin {
	t.Helper()
	s := &standin{name: name, done: make(chan struct{}), clients: map[string]*fakeClient{}, replies: map[string]chan *envelope.Envelope{}, routesUp: map[string]bool{}}
	comp, err := component.New(component.Config{
		Addr: routerAddr, Name: name, Secret: secret,
		OnStanza:   s.onStanza,
		OnRoute:    s.onRoute,
		OnConnect:  s.onConnect,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		QueueBytes: 32 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.comp = comp
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		comp.Run(ctx)
	}()
	t.Cleanup(s.stop)
	select {
	case <-comp.Ready():
	case <-time.After(timeout):
		t.Fatalf("stand-in %s did not connect", name)
	}
	return s
}

// stop closes the c2s: for sm, every session on it is gone.
func (s *standin) stop() {
	s.mu.Lock()
	s.stopped = true
	clients := s.clients
	s.clients = map[string]*fakeClient{}
	s.mu.Unlock()
	s.cancel()
	<-s.done
	for _, c := range clients {
		c.lost()
	}
}

func (s *standin) send(e *envelope.Envelope) {
	e.From = s.name
	// The queue is large; a stopped stand-in drops what it is given.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.comp.Send(ctx, envelope.Append(nil, e))
}

func (s *standin) onStanza(top *xml.Top) {
	e, err := envelope.Parse(top)
	if err != nil {
		s.mu.Lock()
		plain := s.plain
		s.mu.Unlock()
		if plain != nil {
			plain(top)
		}
		return
	}
	s.mu.Lock()
	if e.Conn != "" {
		ch := s.replies[e.Conn]
		delete(s.replies, e.Conn)
		s.mu.Unlock()
		if ch != nil {
			ch <- e
		}
		return
	}
	c := s.clients[e.SID]
	s.mu.Unlock()
	if c != nil {
		c.onEnvelope(e)
	}
}

func (s *standin) onRoute(name string, up bool) {
	s.mu.Lock()
	s.routesUp[name] = up
	clients := make([]*fakeClient, 0, len(s.clients))
	for _, c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	if !strings.HasPrefix(name, "sm-") {
		return
	}
	for _, c := range clients {
		if up {
			// An instance (re)appeared: users may have moved to it, and
			// what was sent while sm was unreachable was bounced.
			c.resend()
		} else {
			c.smGone(name)
		}
	}
}

// onConnect: after a reconnection, whatever was in flight may be lost,
// so every client sends again what sm has not confirmed.
func (s *standin) onConnect() {
	s.mu.Lock()
	again := s.everUp
	s.everUp = true
	clients := make([]*fakeClient, 0, len(s.clients))
	for _, c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	if !again {
		return
	}
	for _, c := range clients {
		c.resend()
	}
}

// request sends an envelope answered by conn (auth, register) and waits.
func (s *standin) request(t testing.TB, e *envelope.Envelope) *envelope.Envelope {
	t.Helper()
	e.Conn = randomID()
	ch := make(chan *envelope.Envelope, 1)
	s.mu.Lock()
	s.replies[e.Conn] = ch
	s.mu.Unlock()
	s.send(e)
	select {
	case r := <-ch:
		return r
	case <-time.After(timeout):
		t.Fatalf("no answer to %s", e.Action)
		return nil
	}
}

// connect logs the user in with a new session.
func (s *standin) connect(t testing.TB, u, resource string) *fakeClient {
	t.Helper()
	c := &fakeClient{user: u, resource: resource, autoAck: true, notify: make(chan struct{}, 1)}
	c.start(t, s)
	return c
}

// fakeClient is a client of the stand-in: a session and what a client
// keeps across sessions (stanzas not confirmed yet, what it received).
type fakeClient struct {
	user, resource string
	autoAck        bool

	mu      sync.Mutex
	c2s     *standin
	sid     string
	started bool
	ended   string // reason, once the session ended
	seq     uint64
	lastSM  string
	// unconfirmed are the stanzas sent and not confirmed, in order.
	unconfirmed []outgoing
	confirmed   map[string]bool // ids of confirmed stanzas
	inbox       []string        // received, not yet taken by Expect
	all         []string        // everything received
	notify      chan struct{}
	// onStanza, when set, sees each stanza delivered (benchmarks), which
	// is then not kept.
	onStanza func(raw []byte)
}

type outgoing struct {
	seq uint64
	raw []byte
	id  string
}

func (c *fakeClient) JID() string  { return c.user + "@" + network + "/" + c.resource }
func (c *fakeClient) Bare() string { return c.user + "@" + network }

func (c *fakeClient) poke() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// start opens a session on the stand-in and waits for sm to accept it,
// then sends again what earlier sessions left unconfirmed.
func (c *fakeClient) start(t testing.TB, s *standin) {
	t.Helper()
	c.mu.Lock()
	c.c2s = s
	c.sid = randomID()
	c.started, c.ended, c.seq = false, "", 0
	sid := c.sid
	c.mu.Unlock()
	s.mu.Lock()
	s.clients[sid] = c
	s.mu.Unlock()
	start := &envelope.Envelope{To: c.user + "@" + host, Action: envelope.ActionStart, SID: sid, JID: c.JID(), SM: true, CSI: "0"}
	deadline := time.Now().Add(timeout)
	for {
		s.send(start)
		if c.wait(2*time.Second, func() bool { return c.started || c.ended != "" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: session not started", c.JID())
		}
	}
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended != "" {
		t.Fatalf("%s: session refused: %s", c.JID(), ended)
	}
	c.mu.Lock()
	pending := c.unconfirmed
	c.unconfirmed = nil
	c.mu.Unlock()
	for _, o := range pending {
		c.sendRaw(o.raw, o.id)
	}
}

// wait polls cond (under the lock) until true or the time is up.
func (c *fakeClient) wait(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			c.mu.Lock()
			ok := cond()
			c.mu.Unlock()
			return ok
		}
	}
}

func (c *fakeClient) onEnvelope(e *envelope.Envelope) {
	if ack := c.take(e); ack != nil {
		// A client with XEP-0198 acknowledges at once; c2s passes it on.
		c.c2s.send(ack)
	}
	c.poke()
}

// take records an envelope for the session and returns the ack to send.
func (c *fakeClient) take(e *envelope.Envelope) *envelope.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.SID != c.sid {
		return nil
	}
	switch e.Action {
	case envelope.ActionStarted:
		c.started = true
		c.lastSM = e.From
	case envelope.ActionFailed:
		c.ended = "failed"
		if e.Error != nil {
			c.ended += ": " + string(e.Error.Condition)
		}
	case envelope.ActionEnd:
		c.ended = e.Reason
	case "":
		if e.Handled > 0 {
			c.lastSM = e.From
			kept := c.unconfirmed[:0]
			for _, o := range c.unconfirmed {
				if o.seq <= e.Handled {
					c.confirmed[o.id] = true
				} else {
					kept = append(kept, o)
				}
			}
			c.unconfirmed = kept
		}
		if e.Stanza != nil {
			if c.onStanza != nil {
				c.onStanza(e.Stanza.Raw)
			} else {
				raw := string(e.Stanza.Raw)
				c.inbox = append(c.inbox, raw)
				c.all = append(c.all, raw)
			}
			if e.RID != "" && c.autoAck {
				return &envelope.Envelope{To: c.user + "@" + host, Action: envelope.ActionAck, SID: c.sid, RIDs: []string{e.RID}}
			}
		}
	}
	return nil
}

// smGone resends unconfirmed stanzas when the sm instance that last
// answered the session goes away (docs/session-protocol.md §2).
func (c *fakeClient) smGone(name string) {
	c.mu.Lock()
	mine := c.lastSM == name
	c.mu.Unlock()
	if mine {
		c.resend()
	}
}

// resend sends the unconfirmed stanzas again with their sequence
// numbers, or the start again if sm never answered it.
func (c *fakeClient) resend() {
	c.mu.Lock()
	s, sid, started := c.c2s, c.sid, c.started
	pending := slices.Clone(c.unconfirmed)
	c.mu.Unlock()
	if !started {
		return // start retries by itself
	}
	for _, o := range pending {
		s.send(&envelope.Envelope{To: c.user + "@" + host, SID: sid, Seq: o.seq, Stanza: mustTop(o.raw)})
	}
}

// lost marks the session dead: its c2s went away.
func (c *fakeClient) lost() {
	c.mu.Lock()
	c.ended = "c2s gone"
	c.mu.Unlock()
	c.poke()
}

// dead reports whether the session ended (the client must reconnect).
func (c *fakeClient) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended != ""
}

func mustTop(raw []byte) *xml.Top {
	t, err := xml.ParseTop(raw, xml.Scope{Default: stream.NSClient})
	if err != nil {
		panic(err) // built by the test itself
	}
	return t
}

// Send stamps 'from' as c2s does and sends the stanza.
func (c *fakeClient) Send(t testing.TB, s string) {
	t.Helper()
	top, err := xml.ParseTop([]byte(s), xml.Scope{Default: stream.NSClient})
	if err != nil {
		t.Fatalf("bad stanza %q: %v", s, err)
	}
	c.sendRaw(top.AppendWithAttr(nil, "from", c.JID()), top.Value("id"))
}

func (c *fakeClient) sendRaw(raw []byte, id string) {
	c.mu.Lock()
	if c.confirmed == nil {
		c.confirmed = map[string]bool{}
	}
	c.seq++
	o := outgoing{seq: c.seq, raw: raw, id: id}
	c.unconfirmed = append(c.unconfirmed, o)
	s, sid := c.c2s, c.sid
	c.mu.Unlock()
	s.send(&envelope.Envelope{To: c.user + "@" + host, SID: sid, Seq: o.seq, Stanza: mustTop(raw)})
}

func (c *fakeClient) Sync(t testing.TB) {
	t.Helper()
	if !c.wait(timeout, func() bool { return len(c.unconfirmed) == 0 }) {
		t.Fatalf("%s: %d stanzas not acknowledged", c.JID(), len(c.unconfirmed))
	}
}

func (c *fakeClient) Expect(t testing.TB, substrs ...string) string {
	t.Helper()
	var got string
	ok := c.wait(timeout, func() bool {
		for i, s := range c.inbox {
			if containsAll(s, substrs) {
				got = s
				c.inbox = slices.Delete(c.inbox, i, i+1)
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("%s: nothing with %q; received:\n%s", c.JID(), substrs, strings.Join(c.Received(), "\n"))
	}
	return got
}

func containsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func (c *fakeClient) Received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all)
}

func (c *fakeClient) Close(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	s, sid := c.c2s, c.sid
	c.ended = "closed"
	c.mu.Unlock()
	s.send(&envelope.Envelope{To: c.user + "@" + host, Action: envelope.ActionEnd, SID: sid})
	s.mu.Lock()
	delete(s.clients, sid)
	s.mu.Unlock()
}

// confirmedIDs returns the ids of the stanzas sm confirmed.
func (c *fakeClient) confirmedIDs() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.confirmed))
	for id := range c.confirmed {
		out[id] = true
	}
	return out
}

// unconfirmedCount returns the stanzas sent and not confirmed.
func (c *fakeClient) unconfirmedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.unconfirmed)
}

// auth asks sm whether the user may log in with the key ring.
func (s *standin) auth(t testing.TB, u string, ring []byte) (bool, string) {
	t.Helper()
	r := s.request(t, &envelope.Envelope{To: u + "@" + host, Action: envelope.ActionAuth, JID: u + "@" + network, Key: ring})
	if r.Action == envelope.ActionAuthorized {
		return true, ""
	}
	if r.Error == nil {
		return false, r.Action
	}
	return false, string(r.Error.Condition) + ": " + r.Error.Text
}

// errorCondition returns the stanza error condition in a stanza.
func errorCondition(t testing.TB, raw string) stanza.Condition {
	t.Helper()
	el, err := xml.Parse([]byte(raw), xml.Scope{Default: stream.NSClient})
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	e := stanza.ParseError(el)
	if e == nil {
		t.Fatalf("no error in %s", raw)
	}
	return e.Condition
}
