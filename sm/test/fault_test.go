package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/testkit"
)

// window bounds the stanzas a client has sent and sm has not confirmed,
// as XEP-0198 clients bound their unacknowledged queue.
const window = 64

// resendAfter is how long a client waits for confirmations before it
// sends the unconfirmed stanzas again (a c2s's resend timer).
const resendAfter = 2 * time.Second

var idRE = regexp.MustCompile(`<message [^>]*\bid='([^']+)'`)

// exchange has two clients send each other total messages, alternating,
// and runs each fault when the count reaches its turn. It returns once
// every message was sent and confirmed.
type exchange struct {
	t      *testing.T
	n      *testNetwork
	a, b   *fakeClient
	faults []func()
}

func (x *exchange) run(total int) {
	t := x.t
	every := total / (len(x.faults) + 1)
	next := 0
	for i := range total {
		if next < len(x.faults) && i == every*(next+1) {
			t.Logf("fault %d at message %d", next+1, i)
			x.faults[next]()
			next++
		}
		from, to := x.a, x.b
		if i%2 == 1 {
			from, to = x.b, x.a
		}
		x.waitWindow(from, window)
		from.Send(t, chat(to.Bare(), fmt.Sprintf("%s-%d", from.resource, i), fmt.Sprintf("message %d", i)))
	}
	x.waitWindow(x.a, 0)
	x.waitWindow(x.b, 0)
}

// waitWindow waits until the client has at most n unconfirmed stanzas,
// sending them again when confirmations stop coming.
func (x *exchange) waitWindow(c *fakeClient, n int) {
	x.t.Helper()
	deadline := time.Now().Add(2 * timeout)
	for c.unconfirmedCount() > n {
		if c.dead() {
			// sm ended the session: a client logs in again and sends
			// what was never confirmed.
			x.t.Logf("%s: session ended; logging in again", c.JID())
			c.start(x.t, x.n.c2s)
			c.Send(x.t, "<presence/>")
		}
		before := c.unconfirmedCount()
		if c.wait(resendAfter, func() bool { return len(c.unconfirmed) < before || len(c.unconfirmed) <= n }) {
			continue
		}
		if time.Now().After(deadline) {
			x.dump(c)
			x.t.Fatalf("%s: %d stanzas unconfirmed for too long", c.JID(), c.unconfirmedCount())
		}
		c.resend()
	}
}

// dump logs what the client and the sm instances know, for a failure.
func (x *exchange) dump(c *fakeClient) {
	c.mu.Lock()
	var seqs []uint64
	for _, o := range c.unconfirmed {
		seqs = append(seqs, o.seq)
	}
	x.t.Logf("%s: sid %s started %v ended %q lastSM %s seq %d unconfirmed %v", c.JID(), c.sid, c.started, c.ended, c.lastSM, c.seq, seqs)
	c.mu.Unlock()
	for _, p := range x.n.sms {
		resp, err := http.Get("http://" + p.admin + "/statez")
		if err != nil {
			x.t.Logf("%s: %v", p.name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		x.t.Logf("%s: %s", p.name, body)
	}
	b := x.n.store.Batch()
	f := b.Seq(c.user, c.sid)
	err := b.Exec(context.Background())
	seq, _ := f.Get()
	x.t.Logf("stored handled count %d (%v)", seq, err)
}

// checkDelivered waits until every message a client saw confirmed has
// reached the other (duplicates allowed, with the same id).
func (x *exchange) checkDelivered() {
	t := x.t
	for _, pair := range [][2]*fakeClient{{x.a, x.b}, {x.b, x.a}} {
		from, to := pair[0], pair[1]
		confirmed := from.confirmedIDs()
		var missing []string
		ok := to.wait(3*timeout, func() bool {
			got := map[string]bool{}
			for _, s := range to.all {
				if m := idRE.FindStringSubmatch(s); m != nil {
					got[m[1]] = true
				}
			}
			missing = missing[:0]
			for id := range confirmed {
				if strings.HasPrefix(id, from.resource+"-") && !got[id] {
					missing = append(missing, id)
				}
			}
			return len(missing) == 0
		})
		if !ok {
			t.Fatalf("%d of %d confirmed messages from %s never arrived: %v", len(missing), len(confirmed), from.JID(), missing[:min(len(missing), 20)])
		}
		t.Logf("%s: %d messages confirmed, all delivered (%d stanzas received by the peer)", from.JID(), len(confirmed), len(to.Received()))
	}
}

// faultClients logs in two clients for an exchange.
func faultClients(t *testing.T, n *testNetwork) (a, b *fakeClient) {
	a = n.c2s.connect(t, n.user("alice-fault"), "alice")
	b = n.c2s.connect(t, n.user("bob-fault"), "bob")
	for _, c := range []*fakeClient{a, b} {
		c.Send(t, "<presence/>")
		c.Sync(t)
	}
	return a, b
}

// TestFaults kills each process in turn (sm, c2s, resolver, router),
// restarting it, while two clients exchange 2,000 messages: every
// message a sender saw confirmed is delivered.
func TestFaults(t *testing.T) {
	n := startNetwork(t, netOptions{smArgs: []string{"-c2s-grace", "5s"}})
	a, b := faultClients(t, n)
	x := &exchange{t: t, n: n, a: a, b: b}
	x.faults = []func(){
		func() { n.sms[0].restart(t) },
		func() {
			// The c2s dies: its clients reconnect to its replacement,
			// send again what was never confirmed, and get what was
			// stored for them at their initial presence.
			n.c2s.stop()
			n.c2s = startStandin(t, n.routerAddr, "c2s-1."+host)
			for _, c := range []*fakeClient{a, b} {
				c.start(t, n.c2s)
				c.Send(t, "<presence/>")
			}
		},
		func() { n.resolver.restart(t) },
		func() { n.router.restart(t) },
	}
	x.run(2000)
	x.checkDelivered()
	r := n.sms[0].metric(t, "kontalk_sm_inbox_redelivered_total", "") + n.sms[1].metric(t, "kontalk_sm_inbox_redelivered_total", "")
	t.Logf("%.0f stored messages delivered again by the sweep", r)
}

// TestRedisRestart kills Redis during an exchange and restarts it from
// its append-only file: nothing confirmed is lost.
func TestRedisRestart(t *testing.T) {
	n := startNetwork(t, netOptions{})
	a, b := faultClients(t, n)
	x := &exchange{t: t, n: n, a: a, b: b}
	x.faults = []func(){
		func() {
			n.redis.Kill()
			// Both sides keep sending into the outage for a moment.
			a.Send(t, chat(b.Bare(), "alice-outage", "during the outage"))
			testkit.Eventually(t, timeout, "sm notices Redis is away", func() bool {
				return n.sms[0].metric(t, "kontalk_sm_redis_retries_total", "")+n.sms[1].metric(t, "kontalk_sm_redis_retries_total", "") > 0 ||
					n.sms[0].metric(t, "kontalk_sm_redis_errors_total", "")+n.sms[1].metric(t, "kontalk_sm_redis_errors_total", "") > 0
			})
			n.redis.Restart()
		},
	}
	x.run(600)
	x.checkDelivered()
}
