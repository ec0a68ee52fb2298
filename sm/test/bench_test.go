package test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/testkit"
)

var sentAtRE = regexp.MustCompile(`id='t(\d+)-`)

// BenchmarkEndToEnd measures messages per second and delivery latency
// through stand-in c2s → sm → router → resolver → router → sm → c2s,
// with half the online users writing to the other half. Each message
// carries its send time; the receiving client measures its latency.
// Run it once per size with -benchtime Nx (N messages). Redis runs in
// memory, or with its append-only file synced at every write (aof), as
// the fault tests run it.
func BenchmarkEndToEnd(b *testing.B) {
	for _, c := range []struct {
		users int
		aof   bool
	}{{10, false}, {100, false}, {100, true}} {
		name := fmt.Sprintf("users=%d", c.users)
		if c.aof {
			name += "/aof"
		}
		b.Run(name, func(b *testing.B) { endToEnd(b, c.users, c.aof) })
	}
}

func endToEnd(b *testing.B, users int, aof bool) {
	n := startNetwork(b, netOptions{memoryOnly: !aof})
	clients := make([]*fakeClient, users)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		got       = make(chan struct{}, 1<<16)
	)
	record := func(raw []byte) {
		m := sentAtRE.FindSubmatch(raw)
		if m == nil {
			return
		}
		ns, _ := strconv.ParseInt(string(m[1]), 10, 64)
		mu.Lock()
		latencies = append(latencies, time.Since(time.Unix(0, ns)))
		mu.Unlock()
		got <- struct{}{}
	}
	for i := range clients {
		c := n.c2s.connect(b, n.user(fmt.Sprintf("bench-%d", i)), "r")
		c.onStanza = record
		c.Send(b, "<presence/>")
		c.Sync(b)
		clients[i] = c
	}
	half := users / 2
	received := 0
	drain := func() {
		for {
			select {
			case <-got:
				received++
			default:
				return
			}
		}
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		from, to := clients[i%half], clients[half+i%half]
		for from.unconfirmedCount() > window {
			drain()
			from.wait(time.Second, func() bool { return len(from.unconfirmed) <= window })
		}
		id := fmt.Sprintf("t%d-%d", time.Now().UnixNano(), i)
		from.Send(b, "<message to='"+to.Bare()+"' id='"+id+"' type='chat'><body>benchmark message "+strconv.Itoa(i)+"</body><request xmlns='urn:xmpp:receipts'/></message>")
	}
	deadline := time.After(2 * time.Minute)
	for received < b.N {
		select {
		case <-got:
			received++
		case <-deadline:
			b.Fatalf("%d of %d messages delivered", received, b.N)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	mu.Lock()
	slices.Sort(latencies)
	p := func(q float64) float64 { return float64(latencies[int(q*float64(len(latencies)-1))]) / 1e6 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	mu.Unlock()
	// Where the time goes: sm's mean handling time per stanza and Redis
	// round trip, over both instances.
	var hs, hc, rs, rc float64
	for _, sm := range n.sms {
		hs += sm.metric(b, "kontalk_sm_handle_seconds_sum", "")
		hc += sm.metric(b, "kontalk_sm_handle_seconds_count", "")
		rs += sm.metric(b, "kontalk_sm_redis_op_seconds_sum", "")
		rc += sm.metric(b, "kontalk_sm_redis_op_seconds_count", "")
	}
	if hc > 0 && rc > 0 {
		b.ReportMetric(hs/hc*1e6, "sm-µs/stanza")
		b.ReportMetric(rs/rc*1e6, "redis-µs/roundtrip")
		b.ReportMetric(rc/float64(b.N), "redis-roundtrips/msg")
	}
	b.ReportMetric(redisCPU(b, n)/float64(b.N), "redis-cpu-µs/msg")
}

var usecRE = regexp.MustCompile(`usec=(\d+)`)

// redisCPU returns the microseconds Redis spent in commands so far
// (INFO commandstats).
func redisCPU(b *testing.B, n *testNetwork) float64 {
	c := testkit.Dial(b, n.redis.Addr())
	defer c.Close()
	c.Send("*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
	info := c.ExpectFunc("INFO reply", func(data []byte) int {
		i := strings.Index(string(data), "\r\n")
		if i < 0 || data[0] != '$' {
			return -1
		}
		size, _ := strconv.Atoi(string(data[1:i]))
		if end := i + 2 + size + 2; end <= len(data) {
			return end
		}
		return -1
	}, timeout)
	var total float64
	for _, m := range usecRE.FindAllStringSubmatch(info, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total
}
