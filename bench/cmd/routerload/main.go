// Command routerload measures the router: it connects pairs of components
// over loopback, sends stanzas from one of each pair to the other through
// the router, and reports stanzas per second, end-to-end and in-router
// (hop) latency percentiles, and the router's CPU time and allocations
// per routed stanza.
//
// With -rate 0 it sends as fast as the router takes stanzas (throughput);
// with -rate R it paces the senders to R stanzas/s in total (latency at a
// given load). It starts bin/router itself (-router-bin) or uses a router
// already running (-router, -admin).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/procstat"
	"github.com/kontalk/xmppd/pkg/xml"
)

type options struct {
	routerBin, router, admin, secret string
	pairs                            int
	duration, warmup                 time.Duration
	rate                             int
	size                             int
	jsonOut                          bool
}

// Result is what one run measured.
type Result struct {
	Pairs           int     `json:"pairs"`
	Rate            int     `json:"target_rate"`
	StanzaBytes     int     `json:"stanza_bytes"`
	Seconds         float64 `json:"seconds"`
	Sent            uint64  `json:"sent"`
	Received        uint64  `json:"received"`
	PerSecond       float64 `json:"stanzas_per_second"`
	E2EP50          float64 `json:"e2e_p50_ms"`
	E2EP99          float64 `json:"e2e_p99_ms"`
	E2EP999         float64 `json:"e2e_p999_ms"`
	HopP50          float64 `json:"hop_p50_ms"`
	HopP99          float64 `json:"hop_p99_ms"`
	RouterCPUPerMsg float64 `json:"router_cpu_us_per_stanza"`
	RouterCPUShare  float64 `json:"router_cpu_cores"`
	AllocsPerMsg    float64 `json:"router_allocs_per_stanza"`
	CPUs            int     `json:"cpus"`
}

func main() {
	var o options
	flag.StringVar(&o.routerBin, "router-bin", "", "router binary to start on free ports (else use -router)")
	flag.StringVar(&o.router, "router", "127.0.0.1:5347", "address of a running router")
	flag.StringVar(&o.admin, "admin", "127.0.0.1:9340", "admin address of a running router (for its metrics)")
	flag.StringVar(&o.secret, "secret", "loadtest", "component secret")
	flag.IntVar(&o.pairs, "pairs", 4, "sender/receiver component pairs")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "time sending before measuring")
	flag.IntVar(&o.rate, "rate", 0, "total stanzas per second (0: as fast as possible)")
	flag.IntVar(&o.size, "size", 250, "approximate stanza size in bytes")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.Parse()
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "routerload:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("| pairs | target rate | stanza bytes | stanzas/s | e2e p50 | e2e p99 | e2e p99.9 | hop p50 | hop p99 | router CPU/stanza | router cores | router allocs/stanza |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	rate := "max"
	if res.Rate > 0 {
		rate = strconv.Itoa(res.Rate)
	}
	fmt.Printf("| %d | %s | %d | %.0f | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.2f µs | %.2f | %.3f |\n",
		res.Pairs, rate, res.StanzaBytes, res.PerSecond, res.E2EP50, res.E2EP99, res.E2EP999,
		res.HopP50, res.HopP99, res.RouterCPUPerMsg, res.RouterCPUShare, res.AllocsPerMsg)
}

func run(o options) (*Result, error) {
	if o.routerBin != "" {
		stop, err := startRouter(&o)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	pid, err := routerPID(o.admin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var measuring atomic.Bool
	var received atomic.Uint64
	lat := newLatencies()
	var wg sync.WaitGroup
	senders := make([]*component.Client, o.pairs)
	for i := range o.pairs {
		recvName := fmt.Sprintf("recv-%d.load", i)
		recv, err := component.New(component.Config{
			Addr: o.router, Name: recvName, Secret: o.secret,
			OnStanza: func(top *xml.Top) {
				if !measuring.Load() {
					return
				}
				id, _ := top.Attr("id")
				sent, err := strconv.ParseInt(string(id), 10, 64)
				if err != nil {
					return
				}
				received.Add(1)
				lat.add(time.Now().UnixNano() - sent)
			},
		})
		if err != nil {
			return nil, err
		}
		send, err := component.New(component.Config{Addr: o.router, Name: fmt.Sprintf("send-%d.load", i), Secret: o.secret, OnStanza: func(*xml.Top) {}})
		if err != nil {
			return nil, err
		}
		senders[i] = send
		for _, c := range []*component.Client{recv, send} {
			wg.Add(1)
			go func() { defer wg.Done(); c.Run(ctx) }()
			select {
			case <-c.Ready():
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("%s did not connect to %s", c.Name(), o.router)
			}
		}
	}

	body := strings.Repeat("x", max(0, o.size-200))
	var sent atomic.Uint64
	stopSending := make(chan struct{})
	var sendWG sync.WaitGroup
	for i, s := range senders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			sendLoop(s, i, o, body, stopSending, &sent, &measuring)
		}()
	}

	time.Sleep(o.warmup)
	cpu0, _ := procstat.CPU(pid)
	mallocs0, _ := metric(o.admin, "go_memstats_mallocs_total")
	routed0, _ := metric(o.admin, "kontalk_router_stanzas_routed_total")
	hop0, _ := histogram(o.admin, "kontalk_router_hop_latency_seconds")
	lat.reset()
	sent.Store(0)
	received.Store(0)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, _ := procstat.CPU(pid)
	mallocs1, _ := metric(o.admin, "go_memstats_mallocs_total")
	routed1, _ := metric(o.admin, "kontalk_router_stanzas_routed_total")
	hop1, _ := histogram(o.admin, "kontalk_router_hop_latency_seconds")
	close(stopSending)
	sendWG.Wait()
	cancel()
	wg.Wait()

	n := received.Load()
	routed := routed1 - routed0
	res := &Result{
		Pairs: o.pairs, Rate: o.rate, StanzaBytes: o.size, Seconds: elapsed.Seconds(),
		Sent: sent.Load(), Received: n, PerSecond: float64(n) / elapsed.Seconds(), CPUs: runtime.NumCPU(),
	}
	res.E2EP50, res.E2EP99, res.E2EP999 = lat.percentiles()
	hop := hop1.minus(hop0)
	res.HopP50, res.HopP99 = hop.quantile(0.5)*1e3, hop.quantile(0.99)*1e3
	if routed > 0 {
		res.RouterCPUPerMsg = (cpu1 - cpu0).Seconds() * 1e6 / routed
		res.AllocsPerMsg = (mallocs1 - mallocs0) / routed
	}
	res.RouterCPUShare = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	return res, nil
}

// sendLoop sends stanzas whose id is the send time in nanoseconds,
// paced to this sender's share of the rate.
func sendLoop(c *component.Client, i int, o options, body string, stop <-chan struct{}, sent *atomic.Uint64, measuring *atomic.Bool) {
	prefix := fmt.Sprintf(`<message from='user%d@send-%d.load/res' to='user%d@recv-%d.load' type='chat' id='`, i, i, i, i)
	suffix := `'><body>` + body + `</body><request xmlns='urn:xmpp:receipts'/></message>`
	var buf []byte
	// Paced senders send small bursts so pacing adds little queueing of
	// its own; unpaced ones send large bursts between checks of stop.
	batch := 64
	if o.rate > 0 {
		batch = 4
	}
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(batch*o.pairs) / float64(o.rate))
	}
	next := time.Now()
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		default:
		}
		for range batch {
			buf = append(buf[:0], prefix...)
			buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
			buf = append(buf, suffix...)
			if err := c.Send(ctx, buf); err != nil {
				return
			}
			if measuring.Load() {
				sent.Add(1)
			}
		}
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

// latencies records samples (nanoseconds) under a lock; at the rates
// measured here a mutex is cheaper than the router hop being measured.
type latencies struct {
	mu      sync.Mutex
	samples []int64
}

func newLatencies() *latencies { return &latencies{samples: make([]int64, 0, 1<<22)} }

func (l *latencies) add(ns int64) {
	l.mu.Lock()
	if len(l.samples) < cap(l.samples) {
		l.samples = append(l.samples, ns)
	}
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.samples = l.samples[:0]
	l.mu.Unlock()
}

func (l *latencies) percentiles() (p50, p99, p999 float64) {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	l.mu.Unlock()
	if len(s) == 0 {
		return 0, 0, 0
	}
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))]) / 1e6 }
	return at(0.5), at(0.99), at(0.999)
}

func startRouter(o *options) (func(), error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.routerBin, "-listen", listen, "-admin", admin, "-log-level", "warn")
	cmd.Env = append(os.Environ(), "KONTALK_SECRET="+o.secret)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	o.router, o.admin = listen, admin
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }, nil
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, errors.New("router did not become ready")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// routerPID finds the router's process: the one listening on its admin
// port (the router may have been started by someone else).
func routerPID(admin string) (int, error) {
	_, port, err := net.SplitHostPort(admin)
	if err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("admin port %q: %w", port, err)
	}
	pid, err := procstat.ListenerPID(p)
	if err == nil && pid == 0 {
		err = fmt.Errorf("no process listens on %s", admin)
	}
	return pid, err
}

// metric reads one unlabelled sample from the router's /metrics.
func metric(admin, name string) (float64, error) {
	var v float64
	err := scrape(admin, func(line string) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, _ = strconv.ParseFloat(rest, 64)
		}
	})
	return v, err
}

// hist is a cumulative Prometheus histogram.
type hist struct {
	bounds []float64
	counts []float64
}

func histogram(admin, name string) (hist, error) {
	var h hist
	err := scrape(admin, func(line string) {
		rest, ok := strings.CutPrefix(line, name+`_bucket{le="`)
		if !ok {
			return
		}
		q := strings.IndexByte(rest, '"')
		le, _ := strconv.ParseFloat(rest[:q], 64)
		n, _ := strconv.ParseFloat(strings.TrimSpace(rest[strings.IndexByte(rest, '}')+1:]), 64)
		h.bounds = append(h.bounds, le)
		h.counts = append(h.counts, n)
	})
	return h, err
}

func (h hist) minus(o hist) hist {
	d := hist{bounds: h.bounds, counts: slices.Clone(h.counts)}
	for i := range d.counts {
		if i < len(o.counts) {
			d.counts[i] -= o.counts[i]
		}
	}
	return d
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h hist) quantile(q float64) float64 {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return 0
	}
	target := q * h.counts[len(h.counts)-1]
	for i, c := range h.counts {
		if c >= target {
			return h.bounds[i]
		}
	}
	return h.bounds[len(h.bounds)-1]
}

func scrape(admin string, line func(string)) error {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line(sc.Text())
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
