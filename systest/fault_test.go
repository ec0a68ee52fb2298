package systest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xmppclient"
)

// window bounds the messages a client has sent without seeing them
// acknowledged, as XEP-0198 clients bound their unacknowledged queue.
const window = 48

// burstLen is how many messages are in flight when a process is killed.
const burstLen = 16

// ackWait is how long a client waits for an <a/> before it asks again.
const ackWait = time.Second

// outgoing is a message sent and not yet covered by the server's h.
type outgoing struct {
	conn int    // the connection it was last sent on
	seq  uint32 // its XEP-0198 number on that connection
	id   string
	raw  []byte
}

// smClient is a real client that keeps what XEP-0198 asks of one: the
// stanzas the server has not acknowledged, sent again on a new stream
// when the old one dies. One goroutine (the test's) sends; a reader
// goroutine per connection takes in messages, acknowledges them and
// applies the server's acknowledgements.
type smClient struct {
	t        *testing.T
	h        *host
	u        *user
	resource string

	// Used by the sending goroutine only.
	c      *xmppclient.Client
	dead   chan struct{} // closed when the current connection's reader ends
	sent   uint32        // stanzas sent on the current connection
	logins int

	peer string // the bare JID whose messages are counted

	mu        sync.Mutex
	conn      int // number of the current connection
	unacked   []outgoing
	confirmed map[string]bool // ids the server acknowledged
	received  map[string]int  // ids of the peer's messages → times received
	changed   chan struct{}   // signalled when unacked or received change
	acks      chan struct{}   // signalled when an <a/> arrives
}

// newSMClient logs u in; it takes messages from peer (a bare JID).
func newSMClient(t *testing.T, h *host, u *user, resource, peer string) *smClient {
	c := &smClient{
		t: t, h: h, u: u, resource: resource, peer: peer,
		confirmed: map[string]bool{}, received: map[string]int{}, changed: make(chan struct{}, 1), acks: make(chan struct{}, 1),
	}
	c.login(timeout)
	t.Cleanup(func() {
		c.c.Abort()
		<-c.dead
	})
	return c
}

// login opens a new stream (retrying while the server is coming back),
// sends initial presence, so that sm delivers what is stored, and sends
// again every message not acknowledged on the old stream.
func (c *smClient) login(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl, err := c.h.connect(ctx, c.u, c.resource)
		cancel()
		if err == nil {
			c.c = cl
			break
		}
		lastErr = err
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: login: %v", c.u.JID, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The presence is stanza 1 of the new stream; the messages sent
	// again are numbered after it.
	c.sent = 1
	c.logins++
	c.mu.Lock()
	c.conn++
	conn := c.conn
	again := make([][]byte, 0, len(c.unacked))
	for i := range c.unacked {
		c.sent++
		c.unacked[i].conn, c.unacked[i].seq = conn, c.sent
		again = append(again, c.unacked[i].raw)
	}
	c.mu.Unlock()
	c.dead = make(chan struct{})
	go c.read(c.c, conn, c.dead)
	c.write([]byte("<presence/>"))
	for _, raw := range again {
		c.write(raw)
	}
}

// send sends a new message, remembered until the server acknowledges it.
func (c *smClient) send(id, raw string) {
	c.sent++
	c.mu.Lock()
	c.unacked = append(c.unacked, outgoing{conn: c.conn, seq: c.sent, id: id, raw: []byte(raw)})
	c.mu.Unlock()
	c.write([]byte(raw))
}

// write sends a stanza. A write error means the stream is dead: the
// reader sees it too, and the next wait logs in again.
func (c *smClient) write(raw []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = c.c.Send(ctx, raw)
}

// read runs for one connection: it records the peer's messages and
// acknowledges each, and applies the server's <a h/>.
func (c *smClient) read(cl *xmppclient.Client, conn int, dead chan struct{}) {
	defer close(dead)
	ctx := context.Background()
	for {
		el, err := cl.Next(ctx)
		if err != nil {
			return
		}
		switch {
		case el.Local() == "message" && el.Attr("type") == "chat" && bareJID(el.Attr("from")) == c.peer:
			c.mu.Lock()
			c.received[el.Attr("id")]++
			c.mu.Unlock()
			c.signal()
			if cl.Ack(ctx) != nil {
				return
			}
		case el.Local() == "a" && el.Space == xmppclient.NSSM:
			c.acked(conn, cl.Acked())
		}
	}
}

func bareJID(full string) string {
	b, _ := jid.AppendBare(nil, []byte(full))
	return string(b)
}

// acked drops the messages the server's h covers on connection conn.
func (c *smClient) acked(conn int, h uint32) {
	c.mu.Lock()
	kept := c.unacked[:0]
	for _, o := range c.unacked {
		if o.conn == conn && o.seq <= h {
			c.confirmed[o.id] = true
			continue
		}
		kept = append(kept, o)
	}
	c.unacked = kept
	c.mu.Unlock()
	c.signal()
	select {
	case c.acks <- struct{}{}:
	default:
	}
}

func (c *smClient) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// burst sends n messages to the peer at once, asks for an
// acknowledgement, and waits (a little) until one comes.
func (c *smClient) burst(n int, tag string) {
	select {
	case <-c.acks: // an earlier one
	default:
	}
	for k := range n {
		id := fmt.Sprintf("%s-%s-%d", c.resource, tag, k)
		c.send(id, chat(c.peer, id, tag))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = c.c.RequestAck(ctx)
	timer := time.NewTimer(ackWait)
	defer timer.Stop()
	select {
	case <-c.acks:
	case <-timer.C:
	}
}

func chat(to, id, body string) string {
	return fmt.Sprintf("<message to='%s' id='%s' type='chat'><body>%s</body></message>", to, id, body)
}

func (c *smClient) unackedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.unacked)
}

// waitWindow waits until at most n messages are unacknowledged, asking the
// server for acknowledgements and logging in again when the stream dies.
func (c *smClient) waitWindow(n int) {
	c.t.Helper()
	deadline := time.Now().Add(3 * timeout)
	for c.unackedCount() > n {
		select {
		case <-c.dead:
			c.t.Logf("%s: stream gone; logging in again", c.u.JID)
			c.c.Abort()
			c.login(timeout)
			continue
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_ = c.c.RequestAck(ctx)
		cancel()
		timer := time.NewTimer(ackWait)
		select {
		case <-c.changed:
		case <-c.dead:
		case <-timer.C:
		}
		timer.Stop()
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: %d messages unacknowledged for too long", c.u.JID, c.unackedCount())
		}
	}
}

// exchange has two clients write to each other, alternating, while
// processes are killed and started again.
type exchange struct {
	t    *testing.T
	a, b *smClient
	// actions run when the count of messages sent reaches their key.
	actions map[int]func()
	// outages are the ranges of messages, [from, to), sent while a
	// process is down: they do not wait for the window, so they pile up
	// in whatever is still running.
	outages [][2]int
}

// newExchange logs Alice in on host ha and Bob on hb.
func newExchange(t *testing.T, ha, hb *host) *exchange {
	alice, bob := newUser(t), newUser(t)
	return &exchange{
		t: t, a: newSMClient(t, ha, alice, "phone", bob.JID), b: newSMClient(t, hb, bob, "laptop", alice.JID),
		actions: map[int]func(){},
	}
}

// outage kills a process (kill) when message at is due and starts it
// again (restart) n messages later.
func (x *exchange) outage(name string, at, n int, kill, restart func()) {
	x.actions[at] = func() {
		// Strike with messages in flight, as soon as the server
		// acknowledged some of them: a server that acknowledged what it
		// had not stored loses it here.
		x.a.burst(burstLen, fmt.Sprintf("burst%d", at))
		x.t.Logf("kill -9 %s at message %d", name, at)
		kill()
	}
	x.actions[at+n] = func() {
		x.t.Logf("restarting %s at message %d", name, at+n)
		restart()
	}
	x.outages = append(x.outages, [2]int{at, at + n})
}

func (x *exchange) down(i int) bool {
	for _, o := range x.outages {
		if i >= o[0] && i < o[1] {
			return true
		}
	}
	return false
}

// run sends total messages, then waits until each was acknowledged.
func (x *exchange) run(total int) {
	for i := range total {
		if f := x.actions[i]; f != nil {
			f()
		}
		from, to := x.a, x.b
		if i%2 == 1 {
			from, to = x.b, x.a
		}
		if !x.down(i) {
			from.waitWindow(window)
		}
		id := fmt.Sprintf("%s-%d", from.resource, i)
		from.send(id, chat(to.u.JID, id, fmt.Sprintf("message %d", i)))
	}
	x.a.waitWindow(0)
	x.b.waitWindow(0)
}

// checkDelivered waits until every message a sender saw acknowledged has
// reached its peer, and logs the counts.
func (x *exchange) checkDelivered() {
	t := x.t
	for _, pair := range [][2]*smClient{{x.a, x.b}, {x.b, x.a}} {
		from, to := pair[0], pair[1]
		from.mu.Lock()
		confirmed := make([]string, 0, len(from.confirmed))
		for id := range from.confirmed {
			confirmed = append(confirmed, id)
		}
		from.mu.Unlock()
		var missing []string
		deadline := time.Now().Add(3 * timeout)
		for {
			to.mu.Lock()
			missing = missing[:0]
			for _, id := range confirmed {
				if to.received[id] == 0 {
					missing = append(missing, id)
				}
			}
			to.mu.Unlock()
			if len(missing) == 0 || time.Now().After(deadline) {
				break
			}
			// Waiting on the receiver's reader, and logging in again if
			// its stream died, so that sm delivers what it stored.
			timer := time.NewTimer(ackWait)
			select {
			case <-to.changed:
			case <-timer.C:
			case <-to.dead:
				to.c.Abort()
				to.login(timeout)
			}
			timer.Stop()
		}
		if len(missing) > 0 {
			t.Fatalf("%d of %d acknowledged messages from %s never arrived, e.g. %v",
				len(missing), len(confirmed), from.u.JID, missing[:min(len(missing), 20)])
		}
		to.mu.Lock()
		delivered, dups := 0, 0
		for _, n := range to.received {
			delivered++
			dups += n - 1
		}
		to.mu.Unlock()
		t.Logf("%s → %s: %d acknowledged, %d delivered, %d duplicates; sender logged in %d times",
			from.resource, to.resource, len(confirmed), delivered, dups, from.logins)
	}
}

// faultOptions make sm sweep and c2s resend within seconds, not minutes.
var faultOptions = hostOptions{
	sms: 2,
	smArgs: []string{"-sweep-every", "1s", "-redeliver-after", "3s", "-c2s-grace", "5s",
		"-lease-every", "1s", "-lease-ttl", "3s"},
	c2sArgs: []string{"-resend-interval", "2s"},
}

// TestFaults kills each process of a host in turn with SIGKILL (an sm
// instance, the resolver, c2s, the router) and starts it again, while two
// real clients exchange 2,000 messages through c2s: every message whose
// sender got an XEP-0198 acknowledgement reaches the other client.
func TestFaults(t *testing.T) {
	h := startHost(t, faultOptions)
	x := newExchange(t, h, h)
	const total, outageLen = 2000, 20
	victims := []string{"sm-1", "resolver", "c2s", "router"}
	every := total / (len(victims) + 1)
	for k, name := range victims {
		x.outage(name, every*(k+1), outageLen, func() { h.kill(name) }, func() { h.restart(t, name) })
	}
	x.run(total)
	x.checkDelivered()
}

// TestRedisRestartRealClients kills Redis with SIGKILL during an exchange
// of 600 messages and starts it again from its append-only file: every
// acknowledged message is delivered.
func TestRedisRestartRealClients(t *testing.T) {
	h := startHost(t, faultOptions)
	x := newExchange(t, h, h)
	x.outage("redis", 300, 20, h.redis.Kill, func() {
		// The messages sent since the kill have reached sm and wait
		// for Redis.
		testkit.Eventually(t, timeout, "sm notices Redis is away", func() bool {
			var n float64
			for _, sm := range []string{"sm-1", "sm-2"} {
				n += h.metric(t, sm, "kontalk_sm_redis_retries_total") + h.metric(t, sm, "kontalk_sm_redis_errors_total")
			}
			return n > 0
		})
		h.redis.Restart()
	})
	x.run(600)
	x.checkDelivered()
}

// metric sums the samples of the counter name (any labels) that process
// proc of the host exports.
func (h *host) metric(t *testing.T, proc, name string) float64 {
	t.Helper()
	body, err := scrape(h.specs[proc].admin)
	if err != nil {
		t.Fatalf("%s metrics: %v", proc, err)
	}
	var sum float64
	for line := range strings.Lines(body) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(rest)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
