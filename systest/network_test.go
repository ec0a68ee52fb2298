package systest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

const (
	network = "kontalk.test"
	timeout = 15 * time.Second
	secret  = "systest-secret"
)

// host is one host of a network: its processes and addresses.
type host struct {
	name            string // H
	redis           *testkit.Redis
	routerAddr      string
	c2sAddr, c2sTLS string
	procs           map[string]*testkit.Process
	specs           map[string]procSpec // how each process was started, for restart
	roots           *x509.CertPool
	// certFile is c2s's certificate, which clients that load files trust.
	certFile string
}

// procSpec is what a process was started with.
type procSpec struct {
	bin       string
	args, env []string // args include -admin
	admin     string
}

type hostOptions struct {
	name  string         // host domain (default node1.kontalk.test)
	redis *testkit.Redis // shared Redis (default: a private one)
	sms   int            // sm instances (default 1)
	env   []string       // extra environment of every process
	// Extra flags for every sm and for c2s (faster sweeps and resends).
	smArgs, c2sArgs []string
	// s2s starts an s2s process, listed in the network directory,
	// listening on s2sAddr (default: a free port) with s2sArgs.
	s2s     bool
	s2sAddr string
	s2sArgs []string
}

// startHost starts Redis (unless shared), router, resolver, sm, c2s and,
// if asked, s2s.
func startHost(t *testing.T, o hostOptions) *host {
	t.Helper()
	if o.name == "" {
		o.name = "node1." + network
	}
	if o.sms == 0 {
		o.sms = 1
	}
	h := newHost(o.name, o.redis)
	if h.redis == nil {
		h.redis = testkit.StartRedis(t, testkit.RedisOptions{AppendOnly: true})
	}
	certFile, keyFile, roots, err := clienttest.WriteServerCertificate(t.TempDir(), "server", network)
	if err != nil {
		t.Fatal(err)
	}
	h.roots, h.certFile = roots, certFile

	h.routerAddr = testkit.FreeAddr(t)
	env := append([]string{"KONTALK_SECRET=" + secret, "KONTALK_LOG_FORMAT=console"}, o.env...)
	common := []string{"-host", h.name, "-network", network, "-router", h.routerAddr}
	h.start(t, "router", env, "-listen", h.routerAddr)
	if o.s2s {
		h.startS2S(t, env, common, o.s2sAddr, o.s2sArgs...)
	}
	h.start(t, "resolver", env, append(common, "-name", "resolver-1."+h.name, "-redis", h.redis.URL())...)
	for i := 1; i <= o.sms; i++ {
		args := append([]string{"-name", fmt.Sprintf("sm-%d.%s", i, h.name), "-redis", h.redis.URL(), "-server-key", serverKeyFile}, o.smArgs...)
		h.start(t, fmt.Sprintf("sm-%d", i), env, append(common, args...)...)
	}
	h.c2sAddr, h.c2sTLS = testkit.FreeAddr(t), testkit.FreeAddr(t)
	h.start(t, "c2s", env, append(append(common, "-name", "c2s-1."+h.name, "-listen", h.c2sAddr, "-listen-tls", h.c2sTLS,
		"-tls-cert", certFile, "-tls-key", keyFile, "-server-key", serverPubFile), o.c2sArgs...)...)
	return h
}

// startS2S lists the host in the network directory with the address of
// its s2s listener (addr, or a free port), and starts s2s there with the
// extra flags. Every host of the network shares the server key, as in
// the docker-compose cluster: it authenticates the hosts to each other.
func (h *host) startS2S(t *testing.T, env, common []string, addr string, extra ...string) {
	t.Helper()
	st, err := store.Open(store.Options{URL: h.redis.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if addr == "" {
		// The port stays free until s2s binds it: nothing else of this
		// test picks a port in between.
		addr = testkit.FreeAddr(t)
	}
	// The operator's entry: sm keeps it and renews the lease.
	if _, err := st.Hosts.Register(context.Background(), h.name, store.Host{
		Fingerprint: serverKey.Fingerprint(), Addr: addr, Enabled: true,
	}); err != nil {
		t.Fatalf("register %s: %v", h.name, err)
	}
	args := append([]string{"-name", "s2s." + h.name, "-listen", addr, "-server-key", serverKeyFile,
		"-redis", h.redis.URL(), "-hosts-refresh", "100ms"}, extra...)
	h.start(t, "s2s", append(env, "KONTALK_DIALBACK_SECRET=systest-dialback"), append(common, args...)...)
}

func newHost(name string, redis *testkit.Redis) *host {
	return &host{name: name, redis: redis, procs: map[string]*testkit.Process{}, specs: map[string]procSpec{}}
}

// start runs one process of the host and waits until it is ready.
func (h *host) start(t *testing.T, name string, env []string, args ...string) {
	t.Helper()
	bin := bins[name]
	if bin == "" {
		bin = bins[name[:len(name)-2]] // sm-1 → sm
	}
	admin := testkit.FreeAddr(t)
	spec := procSpec{bin: bin, args: append(args[:len(args):len(args)], "-admin", admin), env: env, admin: admin}
	h.specs[name] = spec
	h.run(t, name, spec)
	// A failed test shows where its stanzas stopped.
	t.Cleanup(func() {
		if t.Failed() {
			logCounters(t, name, admin)
		}
	})
}

func (h *host) run(t *testing.T, name string, spec procSpec) {
	t.Helper()
	label := name
	if first, _, _ := strings.Cut(h.name, "."); first != "node1" {
		label += "@" + first // tests with several hosts: whose log line
	}
	p := testkit.StartProcess(t, label, spec.bin, spec.args, spec.env)
	testkit.WaitReady(t, "http://"+spec.admin+"/readyz", timeout)
	h.procs[name] = p
}

// logCounters logs the process's non-zero kontalk_ counters and gauges.
func logCounters(t *testing.T, name, admin string) {
	body, err := scrape(admin)
	if err != nil {
		t.Logf("%s metrics: %v", name, err)
		return
	}
	var lines []string
	for line := range strings.Lines(body) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "kontalk_") && !strings.Contains(line, "_bucket{") && !strings.HasSuffix(line, " 0") {
			lines = append(lines, line)
		}
	}
	t.Logf("%s metrics:\n%s", name, strings.Join(lines, "\n"))
}

// scrape returns the text of a process's /metrics.
func scrape(admin string) (string, error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// kill ends one process of the host with SIGKILL, as a crash would.
func (h *host) kill(name string) { h.procs[name].Kill() }

// restart starts a process killed with kill again, with the same flags
// and admin address, and waits until it is ready.
func (h *host) restart(t *testing.T, name string) {
	t.Helper()
	h.run(t, name, h.specs[name])
}

// user is a test user: an identity whose key the network certified.
type user struct {
	*clienttest.Identity
}

func newUser(t *testing.T) *user {
	t.Helper()
	id, err := clienttest.New(network, clienttest.Options{Certifier: serverKey})
	if err != nil {
		t.Fatal(err)
	}
	return &user{id}
}

// login connects u to the host's c2s with STARTTLS, SASL EXTERNAL, bind
// and stream management, as Kontalk's Android client does.
func (h *host) login(t *testing.T, u *user, resource string) *xmppclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := h.connect(ctx, u, resource)
	if err != nil {
		t.Fatalf("login %s: %v", u.JID, err)
	}
	t.Cleanup(func() { c.Abort() })
	return c
}

// connect logs u in as login does, returning the error instead of failing
// the test; the caller closes the connection.
func (h *host) connect(ctx context.Context, u *user, resource string) (*xmppclient.Client, error) {
	return xmppclient.Login(ctx, xmppclient.Config{
		Addr: h.c2sAddr, Domain: network,
		TLS: &tls.Config{RootCAs: h.roots, ServerName: network, Certificates: []tls.Certificate{u.Certificate}},
	}, xmppclient.LoginOptions{Resource: resource, StreamManagement: true})
}
