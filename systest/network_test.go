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
	roots           *x509.CertPool
	// certFile is c2s's certificate, which clients that load files trust.
	certFile string
}

type hostOptions struct {
	name   string         // host domain (default node1.kontalk.test)
	redis  *testkit.Redis // shared Redis (default: a private one)
	sms    int            // sm instances (default 1)
	env    []string       // extra environment of every process
	smArgs []string       // extra flags of every sm instance
}

// startHost starts Redis (unless shared), router, resolver, sm and c2s.
func startHost(t *testing.T, o hostOptions) *host {
	t.Helper()
	if o.name == "" {
		o.name = "node1." + network
	}
	if o.sms == 0 {
		o.sms = 1
	}
	h := &host{name: o.name, redis: o.redis, procs: map[string]*testkit.Process{}}
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
	h.start(t, "resolver", env, append(common, "-name", "resolver-1."+h.name, "-redis", h.redis.URL())...)
	for i := 1; i <= o.sms; i++ {
		args := append([]string{"-name", fmt.Sprintf("sm-%d.%s", i, h.name), "-redis", h.redis.URL(), "-server-key", serverKeyFile}, o.smArgs...)
		h.start(t, fmt.Sprintf("sm-%d", i), env, append(common, args...)...)
	}
	h.c2sAddr, h.c2sTLS = testkit.FreeAddr(t), testkit.FreeAddr(t)
	h.start(t, "c2s", env, append(common, "-name", "c2s-1."+h.name, "-listen", h.c2sAddr, "-listen-tls", h.c2sTLS,
		"-tls-cert", certFile, "-tls-key", keyFile, "-server-key", serverPubFile)...)
	return h
}

// start runs one process of the host and waits until it is ready.
func (h *host) start(t *testing.T, name string, env []string, args ...string) {
	t.Helper()
	bin := bins[name]
	if bin == "" {
		bin = bins[name[:len(name)-2]] // sm-1 → sm
	}
	admin := testkit.FreeAddr(t)
	p := testkit.StartProcess(t, name, bin, append(args, "-admin", admin), env)
	testkit.WaitReady(t, "http://"+admin+"/readyz", timeout)
	h.procs[name] = p
	// A failed test shows where its stanzas stopped.
	t.Cleanup(func() {
		if t.Failed() {
			logCounters(t, name, admin)
		}
	})
}

// logCounters logs the process's non-zero kontalk_ counters and gauges.
func logCounters(t *testing.T, name, admin string) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Logf("%s metrics: %v", name, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "kontalk_") && !strings.Contains(line, "_bucket{") && !strings.HasSuffix(line, " 0") {
			lines = append(lines, line)
		}
	}
	t.Logf("%s metrics:\n%s", name, strings.Join(lines, "\n"))
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
	c, err := xmppclient.Login(ctx, xmppclient.Config{
		Addr: h.c2sAddr, Domain: network,
		TLS: &tls.Config{RootCAs: h.roots, ServerName: network, Certificates: []tls.Certificate{u.Certificate}},
	}, xmppclient.LoginOptions{Resource: resource, StreamManagement: true})
	if err != nil {
		t.Fatalf("login %s: %v", u.JID, err)
	}
	t.Cleanup(func() { c.Abort() })
	return c
}
