// Package load drives XMPP servers with many clients (pkg/xmppclient):
// it logs accounts in at a set rate, has them send each other chat
// messages with receipt requests, and measures logins per second,
// delivery latency (the send time travels in the message body), messages
// the server acknowledged (XEP-0198) but never delivered, and the
// servers' resident memory.
package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient"
)

// NSReceipts is XEP-0184's namespace.
const NSReceipts = "urn:xmpp:receipts"

// Account is one user of the server under test and how it logs in.
type Account struct {
	BareJID string
	Config  xmppclient.Config
	Login   xmppclient.LoginOptions
}

// Session is a set of logged-in clients, each with a goroutine reading
// its stream (and answering the server's XEP-0198 requests).
type Session struct {
	clients []*client
	phase   atomic.Pointer[phase]
	readers sync.WaitGroup
	cancel  context.CancelFunc
	errors  atomic.Int64
	lastErr atomic.Pointer[error] // the latest connection failure, for reports
}

func (s *Session) fail(err error) {
	s.errors.Add(1)
	s.lastErr.Store(&err)
}

// LastError returns the latest connection failure, or nil.
func (s *Session) LastError() error {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

type client struct {
	c     *xmppclient.Client
	jid   string
	acked atomic.Uint32 // the server's last h, copied by the reader
	dead  atomic.Bool

	mu   sync.Mutex // orders sends with the stanza counter
	sent []sentMessage
}

type sentMessage struct {
	stanza uint32 // the client's stanza count once it was sent (XEP-0198)
	id     string
}

// phase is one messaging run; messages from another phase are ignored.
type phase struct {
	prefix   string
	latency  Latencies
	receipts atomic.Int64
	mu       sync.Mutex
	received map[string]bool
}

// LoginStats is what logging in measured.
type LoginStats struct {
	Logins   int
	Failures int
	Elapsed  time.Duration
	Latency  Summary
	FirstErr error
}

// Login logs the accounts in (bind, XEP-0198, initial presence), starting
// at most rate logins per second (0: as fast as concurrency allows) with
// at most concurrency in flight. Accounts that fail are counted and left
// out of the session.
func Login(ctx context.Context, accounts []Account, rate float64, concurrency int) (*Session, LoginStats) {
	readCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Session{cancel: cancel}
	var (
		mu    sync.Mutex
		stats LoginStats
		lat   Latencies
		wg    sync.WaitGroup
		sem   = make(chan struct{}, max(concurrency, 1))
	)
	start := time.Now()
	for i, a := range accounts {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			c, err := login(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				stats.Failures++
				if stats.FirstErr == nil {
					stats.FirstErr = fmt.Errorf("%s: %w", a.BareJID, err)
				}
				return
			}
			lat.Add(time.Since(t0))
			cl := &client{c: c, jid: a.BareJID}
			s.clients = append(s.clients, cl)
			s.readers.Add(1)
			go s.read(readCtx, cl)
		}()
	}
	wg.Wait()
	stats.Elapsed = time.Since(start)
	stats.Logins = len(s.clients)
	stats.Latency = lat.Summary()
	return s, stats
}

func login(ctx context.Context, a Account) (*xmppclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	opts := a.Login
	opts.StreamManagement = true
	c, err := xmppclient.Login(ctx, a.Config, opts)
	if err != nil {
		return nil, err
	}
	if err := c.Send(ctx, []byte("<presence/>")); err != nil {
		c.Abort()
		return nil, err
	}
	return c, nil
}

// Clients returns how many clients are logged in.
func (s *Session) Clients() int { return len(s.clients) }

// Close disconnects every client and waits for the readers.
func (s *Session) Close() {
	s.cancel()
	for _, cl := range s.clients {
		cl.c.Abort()
	}
	s.readers.Wait()
}

// read handles one client's stream until the session closes.
func (s *Session) read(ctx context.Context, cl *client) {
	defer s.readers.Done()
	for {
		el, err := cl.c.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				cl.dead.Store(true)
				s.fail(fmt.Errorf("%s: %w", cl.jid, err))
			}
			return
		}
		switch {
		case el.Space == xmppclient.NSSM && el.Local() == "a":
			cl.acked.Store(cl.c.Acked())
		case el.Local() == "message":
			s.message(ctx, cl, el, time.Now())
		}
	}
}

func (s *Session) message(ctx context.Context, cl *client, el *xml.Element, now time.Time) {
	p := s.phase.Load()
	if p == nil || !strings.HasPrefix(el.Attr("id"), p.prefix) {
		if r := el.Child("received", NSReceipts); r != nil && p != nil && strings.HasPrefix(r.Attr("id"), p.prefix) {
			p.receipts.Add(1)
		}
		return
	}
	body := el.Child("body", "")
	if body == nil {
		return
	}
	sentAt, err := strconv.ParseInt(body.Text(), 10, 64)
	if err != nil {
		return
	}
	p.latency.Add(now.Sub(time.Unix(0, sentAt)))
	p.mu.Lock()
	p.received[el.Attr("id")] = true
	p.mu.Unlock()
	if el.Child("request", NSReceipts) != nil && el.Attr("from") != "" {
		receipt := "<message to='" + string(xml.AppendEscapedAttr(nil, el.Attr("from"), '\'')) + "' id='r" +
			el.Attr("id") + "'><received xmlns='" + NSReceipts + "' id='" + el.Attr("id") + "'/></message>"
		cl.mu.Lock()
		err := cl.c.Send(ctx, []byte(receipt))
		cl.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			s.fail(fmt.Errorf("%s: receipt: %w", cl.jid, err))
		}
	}
}

// MessageStats is what one messaging run measured.
type MessageStats struct {
	Offered      float64 // messages per second asked for
	Elapsed      time.Duration
	Sent         int
	Acknowledged int
	Delivered    int
	Lost         int
	Receipts     int
	Latency      Summary
	Errors       int
	// CPUPerMessage is the server's CPU time per delivered message
	// (with its receipt and acknowledgements), set by Run and StepUp.
	CPUPerMessage time.Duration
}

// Messages has every client send a chat message (with a receipt request
// and an XEP-0198 request) to a random other client every interval, for
// duration, then waits up to drain for acknowledgements and deliveries.
// name tells runs of one session apart.
func (s *Session) Messages(ctx context.Context, name string, interval, duration, drain time.Duration) MessageStats {
	p := &phase{prefix: name + "-", received: make(map[string]bool)}
	s.phase.Store(p)
	for _, cl := range s.clients {
		cl.mu.Lock()
		cl.sent = cl.sent[:0]
		cl.mu.Unlock()
	}
	errs0 := s.errors.Load()
	stats := MessageStats{Offered: float64(len(s.clients)) / interval.Seconds()}
	runCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i, cl := range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(ctx, runCtx, p, i, cl, interval)
		}()
	}
	wg.Wait()
	stats.Elapsed = time.Since(start)

	// Ask for a final acknowledgement and wait for what is still in flight.
	for _, cl := range s.clients {
		if !cl.dead.Load() {
			cl.c.Send(ctx, []byte("<r xmlns='"+xmppclient.NSSM+"'/>"))
		}
	}
	deadline := time.Now().Add(drain)
	for {
		stats.Sent, stats.Acknowledged, stats.Lost = s.tally(p)
		if stats.Lost == 0 && stats.Acknowledged == stats.Sent || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stats.Latency = p.latency.Summary()
	stats.Delivered = stats.Latency.Count
	stats.Receipts = int(p.receipts.Load())
	stats.Errors = int(s.errors.Load() - errs0)
	return stats
}

// send is one client's sender for a run, until run ends. Writes use ctx,
// not run: a TLS connection whose write deadline passes is broken for good.
func (s *Session) send(ctx, run context.Context, p *phase, i int, cl *client, interval time.Duration) {
	if len(s.clients) < 2 || cl.dead.Load() {
		return
	}
	// A random phase spreads the clients' sends over the interval.
	next := time.Now().Add(rand.N(interval))
	for seq := 0; ; seq++ {
		select {
		case <-time.After(time.Until(next)):
		case <-run.Done():
			return
		}
		next = next.Add(interval)
		peer := s.clients[rand.N(len(s.clients)-1)]
		if peer == cl {
			peer = s.clients[len(s.clients)-1]
		}
		id := p.prefix + strconv.Itoa(i) + "-" + strconv.Itoa(seq)
		msg := "<message type='chat' to='" + peer.jid + "' id='" + id + "'><body>" +
			strconv.FormatInt(time.Now().UnixNano(), 10) + "</body><request xmlns='" + NSReceipts + "'/></message>" +
			"<r xmlns='" + xmppclient.NSSM + "'/>"
		cl.mu.Lock()
		err := cl.c.Send(ctx, []byte(msg))
		if err == nil {
			cl.sent = append(cl.sent, sentMessage{stanza: cl.c.Sent(), id: id})
		}
		cl.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				s.fail(fmt.Errorf("%s: send: %w", cl.jid, err))
			}
			return
		}
	}
}

// tally counts the run's messages sent, those the server acknowledged and,
// of those, the ones not received.
func (s *Session) tally(p *phase) (sent, acked, lost int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cl := range s.clients {
		h := cl.acked.Load()
		cl.mu.Lock()
		for _, m := range cl.sent {
			sent++
			// h wraps at 2^32 stanzas, far beyond a run.
			if m.stanza <= h {
				acked++
				if !p.received[m.id] {
					lost++
				}
			}
		}
		cl.mu.Unlock()
	}
	return sent, acked, lost
}
