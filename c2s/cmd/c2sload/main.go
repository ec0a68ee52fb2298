// Command c2sload measures c2s: logins per second (TCP, STARTTLS with a
// Kontalk bridge certificate, SASL EXTERNAL, bind) and the memory an idle
// authenticated connection costs. It starts a router and c2s from the
// binaries given, and a stand-in sm in its own process (package standin),
// on free loopback ports, and reports c2s's CPU time per login and the
// growth of its live heap and its goroutine stacks per idle connection,
// read from c2s's own metrics after a garbage collection.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kontalk/xmppd/c2s/test/standin"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/procstat"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

const (
	network = "load.test"
	host    = "node1.load.test"
	secret  = "loadtest"
)

type options struct {
	routerBin, c2sBin string
	users             int
	logins            int
	concurrency       int
	idle              int
	direct            bool
	jsonOut           bool
	hold              time.Duration
	ecdsaKeys         bool
}

// Result is what one run measured.
type Result struct {
	Logins           int     `json:"logins"`
	LoginSeconds     float64 `json:"login_seconds"`
	LoginsPerSecond  float64 `json:"logins_per_second"`
	C2SCPUPerLoginUS float64 `json:"c2s_cpu_us_per_login"`
	LoginP50MS       float64 `json:"login_p50_ms"`
	LoginP99MS       float64 `json:"login_p99_ms"`
	Idle             int     `json:"idle_connections"`
	HeapPerIdle      float64 `json:"heap_bytes_per_idle_connection"`
	StackPerIdle     float64 `json:"stack_bytes_per_idle_connection"`
	RSSPerIdle       float64 `json:"rss_bytes_per_idle_connection"`
	TotalPerIdle     float64 `json:"heap_and_stack_bytes_per_idle_connection"`
	CPUs             int     `json:"cpus"`
}

func main() {
	var o options
	flag.StringVar(&o.routerBin, "router-bin", "bin/router", "router binary")
	flag.StringVar(&o.c2sBin, "c2s-bin", "bin/c2s", "c2s binary (built with the x509 overlay)")
	flag.IntVar(&o.users, "users", 16, "distinct users (RSA-2048 keys, as clients make); logins cycle through them with distinct resources")
	flag.IntVar(&o.logins, "logins", 5000, "logins to time")
	flag.IntVar(&o.concurrency, "concurrency", 64, "logins in flight")
	flag.IntVar(&o.idle, "idle", 10000, "idle authenticated connections to hold for the memory figure (0 skips)")
	flag.BoolVar(&o.direct, "direct-tls", false, "log in on the direct TLS port instead of STARTTLS")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.BoolVar(&o.ecdsaKeys, "ecdsa", false, "give the users ECDSA P-256 keys: the clients sign their handshakes cheaply, so more of the machine is left to c2s (real clients use RSA-2048)")
	flag.DurationVar(&o.hold, "hold", 0, "keep the idle connections open this long after measuring (to profile c2s)")
	flag.Parse()
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "c2sload:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("logins: %d in %.2fs = %.0f/s (p50 %.1fms, p99 %.1fms), c2s CPU %.0fµs per login, %d CPUs\n",
		res.Logins, res.LoginSeconds, res.LoginsPerSecond, res.LoginP50MS, res.LoginP99MS, res.C2SCPUPerLoginUS, res.CPUs)
	if res.Idle > 0 {
		fmt.Printf("idle connections: %d, per connection: heap %.0f B + stack %.0f B = %.0f B (%.1f KiB); RSS %.0f B\n",
			res.Idle, res.HeapPerIdle, res.StackPerIdle, res.TotalPerIdle, res.TotalPerIdle/1024, res.RSSPerIdle)
	}
}

// procs is the router and c2s, started for the run.
type procs struct {
	cmds                      []*exec.Cmd
	routerAddr, addr, tlsAddr string
	admin                     string
	c2sPID                    int
	pool                      *x509.CertPool
	dir                       string
}

func (p *procs) stop() {
	for i := len(p.cmds) - 1; i >= 0; i-- {
		p.cmds[i].Process.Kill()
		p.cmds[i].Wait()
	}
	os.RemoveAll(p.dir)
}

func run(o options) (*Result, error) {
	serverKey, err := keyring.GenerateServerKey("Load Server", "server@"+network, keyring.ServerKeyOptions{RSABits: 2048})
	if err != nil {
		return nil, err
	}
	p, err := start(o, serverKey)
	if err != nil {
		return nil, err
	}
	defer p.stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sm, err := standin.New(standin.Config{Router: p.routerAddr, Secret: secret, Name: "sm-1." + host, Host: host, Network: network})
	if err != nil {
		return nil, err
	}
	smDone := make(chan struct{})
	go func() {
		defer close(smDone)
		sm.Run(ctx)
	}()
	defer func() {
		cancel()
		<-smDone
	}()
	select {
	case <-sm.Ready():
	case <-time.After(10 * time.Second):
		return nil, errors.New("stand-in sm did not connect")
	}
	if err := waitReady(p.admin); err != nil {
		return nil, err
	}

	ids := make([]*clienttest.Identity, o.users)
	for i := range ids {
		if ids[i], err = clienttest.New(network, clienttest.Options{Certifier: serverKey, ECDSA: o.ecdsaKeys}); err != nil {
			return nil, err
		}
	}
	cfg := func(i int) xmppclient.Config {
		c := xmppclient.Config{Addr: p.addr, Domain: network, DirectTLS: o.direct,
			// Like the Android client, no post-quantum key exchange.
			TLS: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{ids[i%len(ids)].Certificate},
				CurvePreferences: []tls.CurveID{tls.X25519}}}
		if o.direct {
			c.Addr = p.tlsAddr
		}
		return c
	}

	res := &Result{CPUs: runtime.NumCPU()}
	// Warm up, then time the logins; each client closes its stream once
	// bound.
	if _, _, err := logins(ctx, cfg, o.concurrency, o.concurrency*4, 0); err != nil {
		return nil, err
	}
	cpu0, err := procstat.CPU(p.c2sPID)
	if err != nil {
		return nil, err
	}
	elapsed, lat, err := logins(ctx, cfg, o.concurrency, o.logins, 1<<20)
	if err != nil {
		return nil, err
	}
	cpu1, _ := procstat.CPU(p.c2sPID)
	res.Logins = o.logins
	res.LoginSeconds = elapsed.Seconds()
	res.LoginsPerSecond = float64(o.logins) / elapsed.Seconds()
	res.C2SCPUPerLoginUS = (cpu1 - cpu0).Seconds() * 1e6 / float64(o.logins)
	res.LoginP50MS, res.LoginP99MS = lat.percentile(0.5), lat.percentile(0.99)

	if o.idle > 0 {
		if err := idleMemory(ctx, o, p, cfg, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// logins runs n logins with c clients at a time and returns how long they
// took and their latencies.
func logins(ctx context.Context, cfg func(int) xmppclient.Config, c, n, resourceBase int) (time.Duration, *latencies, error) {
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	lat := &latencies{}
	var wg sync.WaitGroup
	begin := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				cl, err := xmppclient.Login(lctx, cfg(i), xmppclient.LoginOptions{Resource: "r" + strconv.Itoa(resourceBase+i)})
				if err == nil {
					lat.add(time.Since(t0))
					err = cl.Close(lctx)
				}
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("login %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(begin), lat, firstErr
}

// idleMemory opens idle authenticated connections and measures what c2s
// holds for them.
func idleMemory(ctx context.Context, o options, p *procs, cfg func(int) xmppclient.Config, res *Result) error {
	before, err := memory(p)
	if err != nil {
		return err
	}
	clients := make([]*xmppclient.Client, o.idle)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.idle {
					return
				}
				lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				cl, err := xmppclient.Login(lctx, cfg(i), xmppclient.LoginOptions{Resource: "idle" + strconv.Itoa(i), StreamManagement: true})
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("idle login %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				clients[i] = cl
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Abort()
			}
		}
	}()
	if firstErr != nil {
		return firstErr
	}
	after, err := memory(p)
	if err != nil {
		return err
	}
	if o.hold > 0 {
		fmt.Fprintf(os.Stderr, "holding %d idle connections for %v\n", o.idle, o.hold)
		time.Sleep(o.hold)
	}
	n := float64(o.idle)
	res.Idle = o.idle
	res.HeapPerIdle = (after.heap - before.heap) / n
	res.StackPerIdle = (after.stack - before.stack) / n
	res.RSSPerIdle = (after.rss - before.rss) / n
	res.TotalPerIdle = res.HeapPerIdle + res.StackPerIdle
	return nil
}

type mem struct{ heap, stack, rss float64 }

// memory samples c2s's live heap and in-use stacks once the garbage of
// what came before is gone: it waits for the runtime's next collection,
// which an idle process gets at the latest after two minutes.
func memory(p *procs) (mem, error) {
	gc0, err := metric(p.admin, "go_gc_duration_seconds_count")
	if err != nil {
		return mem{}, err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if gc, _ := metric(p.admin, "go_gc_duration_seconds_count"); gc > gc0 {
			break
		}
		time.Sleep(time.Second)
	}
	var m mem
	if m.heap, err = metric(p.admin, "go_memstats_heap_alloc_bytes"); err != nil {
		return m, err
	}
	if m.stack, err = metric(p.admin, "go_memstats_stack_inuse_bytes"); err != nil {
		return m, err
	}
	m.rss, err = metric(p.admin, "process_resident_memory_bytes")
	return m, err
}

func start(o options, serverKey *keyring.ServerKey) (*procs, error) {
	dir, err := os.MkdirTemp("", "c2sload")
	if err != nil {
		return nil, err
	}
	p := &procs{dir: dir}
	ok := false
	defer func() {
		if !ok {
			p.stop()
		}
	}()
	certFile, keyFile, pool, err := clienttest.WriteServerCertificate(dir, "server", network)
	if err != nil {
		return nil, err
	}
	p.pool = pool
	pub, err := serverKey.ArmoredPublic()
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, "server-key.asc")
	if err := os.WriteFile(keyPath, pub, 0o600); err != nil {
		return nil, err
	}
	addrs := make([]string, 6)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	p.routerAddr, p.addr, p.tlsAddr, p.admin = addrs[0], addrs[1], addrs[2], addrs[3]
	env := append(os.Environ(), "KONTALK_SECRET="+secret)
	router := exec.Command(o.routerBin, "-listen", p.routerAddr, "-admin", addrs[4], "-log-level", "warn")
	router.Env = env
	router.SysProcAttr = childAttr()
	router.Stderr = os.Stderr
	if err := router.Start(); err != nil {
		return nil, err
	}
	p.cmds = append(p.cmds, router)
	if err := waitReady(addrs[4]); err != nil {
		return nil, err
	}
	c2s := exec.Command(o.c2sBin, "-name", "c2s-1."+host, "-host", host, "-network", network,
		"-router", p.routerAddr, "-listen", p.addr, "-listen-tls", p.tlsAddr, "-admin", p.admin,
		"-tls-cert", certFile, "-tls-key", keyFile, "-server-key", keyPath,
		"-max-conns-per-ip", "100000", "-log-level", "warn")
	c2s.Env = env
	c2s.SysProcAttr = childAttr()
	c2s.Stderr = os.Stderr
	if err := c2s.Start(); err != nil {
		return nil, err
	}
	p.cmds = append(p.cmds, c2s)
	p.c2sPID = c2s.Process.Pid
	ok = true
	return p, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls an admin address until /readyz answers 200.
func waitReady(admin string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", admin)
}

// metric reads one unlabelled metric from an admin server.
func metric(admin, name string) (float64, error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// latencies collects durations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) percentile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.d...)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))]) / 1e6
}
