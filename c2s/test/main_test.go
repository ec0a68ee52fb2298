// Package test runs c2s as a real process, with the real router and a
// stand-in sm (package standin), and talks to it over TLS on loopback
// with pkg/xmppclient, raw bytes and slixmpp.
package test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kontalk/xmppd/c2s/test/standin"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

const (
	network = "kontalk.test"
	host    = "node1.kontalk.test"
	secret  = "s3cret"
	timeout = 15 * time.Second
)

var (
	routerBin, c2sBin string
	// serverKey certifies users; it was created three days ago so that it
	// can certify keys made in the past (the expired-key test).
	serverKey *keyring.ServerKey
	// otherKey is a server key c2s does not trust.
	otherKey *keyring.ServerKey
	// serverKeyFile holds serverKey's public part, armored.
	serverKeyFile string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "c2s-test")
	if err != nil {
		log.Fatal(err)
	}
	code, err := setup(dir, m)
	os.RemoveAll(dir)
	if err != nil {
		log.Fatal(err)
	}
	os.Exit(code)
}

func setup(dir string, m *testing.M) (int, error) {
	var err error
	ctx := context.Background()
	if routerBin, err = testkit.Build(ctx, "../../router", dir, "router"); err != nil {
		return 0, err
	}
	if c2sBin, err = testkit.Build(ctx, "..", dir, "c2s"); err != nil {
		return 0, err
	}
	created := time.Now().Add(-72 * time.Hour)
	if serverKey, err = keyring.GenerateServerKey("Test Server", "server@"+network, keyring.ServerKeyOptions{RSABits: 2048, Created: created}); err != nil {
		return 0, err
	}
	if otherKey, err = keyring.GenerateServerKey("Other Server", "server@other.test", keyring.ServerKeyOptions{RSABits: 2048, Created: created}); err != nil {
		return 0, err
	}
	pub, err := serverKey.ArmoredPublic()
	if err != nil {
		return 0, err
	}
	serverKeyFile = filepath.Join(dir, "server-key.asc")
	if err := os.WriteFile(serverKeyFile, pub, 0o600); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// env is one test network: a router, a stand-in sm and a c2s process.
type env struct {
	t                       *testing.T
	routerAddr, routerAdmin string
	router                  *testkit.Process
	addr, tlsAddr, admin    string
	c2s                     *testkit.Process
	sm                      *standin.SM
	pool                    *x509.CertPool
	dir                     string
	certFile, keyFile       string
	c2sArgs                 []string
}

// startEnv starts the router, the stand-in sm and c2s with extra flags.
func startEnv(t *testing.T, c2sArgs ...string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), c2sArgs: c2sArgs}
	var err error
	e.certFile, e.keyFile, e.pool, err = clienttest.WriteServerCertificate(e.dir, "server", network)
	if err != nil {
		t.Fatal(err)
	}
	e.routerAddr, e.routerAdmin = testkit.FreeAddr(t), testkit.FreeAddr(t)
	e.router = testkit.StartProcess(t, "router", routerBin,
		[]string{"-listen", e.routerAddr, "-admin", e.routerAdmin, "-log-format", "console"},
		[]string{"KONTALK_SECRET=" + secret})
	testkit.WaitReady(t, "http://"+e.routerAdmin+"/readyz", timeout)
	e.startSM(t)
	e.startC2S(t)
	return e
}

func (e *env) startSM(t *testing.T) {
	t.Helper()
	sm, err := standin.New(standin.Config{Router: e.routerAddr, Secret: secret, Name: "sm-1." + host, Host: host, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sm.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-sm.Ready():
	case <-time.After(timeout):
		t.Fatal("stand-in sm did not connect")
	}
	e.sm = sm
}

func (e *env) startC2S(t *testing.T) {
	t.Helper()
	e.addr, e.tlsAddr, e.admin = testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	args := append([]string{
		"-name", "c2s-1." + host, "-host", host, "-network", network, "-router", e.routerAddr,
		"-listen", e.addr, "-listen-tls", e.tlsAddr, "-admin", e.admin,
		"-tls-cert", e.certFile, "-tls-key", e.keyFile, "-server-key", serverKeyFile,
		"-log-format", "console", "-log-level", "debug",
	}, e.c2sArgs...)
	e.c2s = testkit.StartProcess(t, "c2s", c2sBin, args, []string{"KONTALK_SECRET=" + secret})
	testkit.WaitReady(t, "http://"+e.admin+"/readyz", timeout)
}

// config returns the client configuration for presenting cert.
func (e *env) config(cert *tls.Certificate, direct bool) xmppclient.Config {
	cfg := xmppclient.Config{Addr: e.addr, Domain: network, TLS: &tls.Config{RootCAs: e.pool}}
	if direct {
		cfg.Addr = e.tlsAddr
		cfg.DirectTLS = true
	}
	if cert != nil {
		cfg.TLS.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// login logs id in with the options given.
func (e *env) login(t *testing.T, id *clienttest.Identity, opts xmppclient.LoginOptions) *xmppclient.Client {
	t.Helper()
	c, err := xmppclient.Login(ctxT(t), e.config(&id.Certificate, false), opts)
	if err != nil {
		t.Fatalf("login %s: %v", id.JID, err)
	}
	t.Cleanup(func() { c.Abort() })
	return c
}

// newIdentity makes a user certified by the test server key.
func newIdentity(t *testing.T, opts clienttest.Options) *clienttest.Identity {
	t.Helper()
	if opts.Certifier == nil {
		opts.Certifier = serverKey
	}
	id, err := clienttest.New(network, opts)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitEvent waits for the stand-in sm to record an event that match accepts.
func (e *env) waitEvent(t *testing.T, what string, match func(standin.Event) bool) standin.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, ev := range e.sm.Events() {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-e.sm.Changed():
		case <-deadline:
			t.Fatalf("sm never received %s; events: %v", what, e.sm.Events())
		}
	}
}

// get fetches an admin page of c2s.
func (e *env) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + e.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectStanza waits for a stanza satisfying match.
func expectStanza(t *testing.T, c *xmppclient.Client, what string, match func(*xml.Element) bool) *xml.Element {
	t.Helper()
	el, err := c.Expect(ctxT(t), match)
	if err != nil {
		t.Fatalf("expecting %s: %v", what, err)
	}
	return el
}

// expectStreamError reads until the stream ends with a stream error and
// returns its condition and text.
func expectStreamError(t *testing.T, c *xmppclient.Client) (string, string) {
	t.Helper()
	ctx := ctxT(t)
	for {
		_, err := c.Next(ctx)
		if err == nil {
			continue
		}
		var se *stream.Error
		if errors.As(err, &se) {
			return string(se.Condition), se.Text
		}
		t.Fatalf("expected a stream error, got %v", err)
	}
}
