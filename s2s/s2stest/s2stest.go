// Package s2stest starts Kontalk hosts for system tests: a router and an
// s2s process each, as real processes on loopback, with stand-in
// components for the network side (resolver, sm, c2s) that record what
// they receive, a test CA for federation certificates, and helpers that
// write the network directory (docs/data.md: hosts, leases) to Redis.
// End-to-end tests with the real c2s, sm and resolver start those beside
// a Host's router.
package s2stest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/s2s/server"
)

// Timeout bounds each wait of the helpers.
const Timeout = 15 * time.Second

// Secret is the router secret the helpers use unless told otherwise.
const Secret = "s2s-test-secret"

// Binaries are the programs a Host runs.
type Binaries struct{ Router, S2S string }

// Build builds the router and s2s binaries into dir; root is the
// repository root relative to the working directory. For TestMain.
func Build(ctx context.Context, root, dir string) (Binaries, error) {
	var b Binaries
	var err error
	if b.Router, err = testkit.Build(ctx, filepath.Join(root, "router"), dir, "router"); err != nil {
		return b, err
	}
	b.S2S, err = testkit.Build(ctx, filepath.Join(root, "s2s"), dir, "s2s")
	return b, err
}

// HostConfig describes a host to start.
type HostConfig struct {
	Network, Host string
	// Listen is the s2s address (default: a free loopback port). Tests
	// with Prosody use port 5269 on a loopback address of their own.
	Listen string
	// ServerKey is the host's OpenPGP server key (-server-key); nil:
	// no links to other hosts of the network.
	ServerKey *keyring.ServerKey
	// RedisURL is the network directory (-redis).
	RedisURL string
	// DialbackSecret (default "dialback-secret-of-the-network").
	DialbackSecret string
	// Cert is the federation certificate; CAFile the CAs trusted.
	Cert   *Cert
	CAFile string
	// Plaintext allows federated streams without TLS (-require-tls=false).
	Plaintext bool
	// Peers are static addresses of remote domains (-peer).
	Peers map[string]string
	// Args are more s2s flags.
	Args []string
}

// Host is a router and an s2s process.
type Host struct {
	t   testing.TB
	cfg HostConfig
	bin Binaries
	dir string

	RouterAddr, RouterAdmin string
	S2SAddr, S2SAdmin       string
	Router, S2S             *testkit.Process
	s2sArgs                 []string
}

// StartHost starts the host's router and s2s and waits until s2s is
// ready (bound at the router, directory read).
func StartHost(t testing.TB, bin Binaries, cfg HostConfig) *Host {
	t.Helper()
	if cfg.DialbackSecret == "" {
		cfg.DialbackSecret = "dialback-secret-of-the-network"
	}
	h := &Host{t: t, cfg: cfg, bin: bin, dir: t.TempDir(),
		RouterAddr: testkit.FreeAddr(t), RouterAdmin: testkit.FreeAddr(t), S2SAdmin: testkit.FreeAddr(t)}
	h.S2SAddr = cfg.Listen
	if h.S2SAddr == "" {
		h.S2SAddr = testkit.FreeAddr(t)
	}
	h.Router = testkit.StartProcess(t, "router:"+cfg.Host, bin.Router,
		[]string{"-listen", h.RouterAddr, "-admin", h.RouterAdmin, "-log-format", "console", "-log-level", "info"},
		[]string{"KONTALK_SECRET=" + Secret})
	testkit.WaitReady(t, "http://"+h.RouterAdmin+"/readyz", Timeout)

	args := []string{"-listen", h.S2SAddr, "-admin", h.S2SAdmin, "-router", h.RouterAddr,
		"-network", cfg.Network, "-host", cfg.Host, "-log-format", "console", "-log-level", "debug",
		"-hosts-refresh", "100ms", "-connect-timeout", "5s", "-shutdown-timeout", "2s"}
	if cfg.ServerKey != nil {
		armored, err := cfg.ServerKey.ArmoredPrivate()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(h.dir, "server-key.asc")
		if err := os.WriteFile(file, armored, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-server-key", file)
	}
	if cfg.RedisURL != "" {
		args = append(args, "-redis", cfg.RedisURL)
	}
	if cfg.Cert != nil {
		args = append(args, "-tls-cert", cfg.Cert.CertFile, "-tls-key", cfg.Cert.KeyFile)
	}
	if cfg.CAFile != "" {
		args = append(args, "-ca-file", cfg.CAFile)
	}
	if cfg.Plaintext {
		args = append(args, "-require-tls=false")
	}
	for d, a := range cfg.Peers {
		args = append(args, "-peer", d+"="+a)
	}
	h.s2sArgs = append(args, cfg.Args...)
	h.StartS2S()
	return h
}

// StartS2S starts the s2s process (again) and waits until it is ready.
func (h *Host) StartS2S() {
	h.t.Helper()
	h.S2S = testkit.StartProcess(h.t, "s2s:"+h.cfg.Host, h.bin.S2S, h.s2sArgs,
		[]string{"KONTALK_SECRET=" + Secret, "KONTALK_DIALBACK_SECRET=" + h.cfg.DialbackSecret})
	testkit.WaitReady(h.t, "http://"+h.S2SAdmin+"/readyz", Timeout)
}

// Config returns the host's configuration.
func (h *Host) Config() HostConfig { return h.cfg }

// Connz returns the s2s process's /connz.
func (h *Host) Connz(t testing.TB) server.Connz {
	t.Helper()
	var z server.Connz
	if err := json.Unmarshal([]byte(h.get(t, "/connz")), &z); err != nil {
		t.Fatalf("connz: %v", err)
	}
	return z
}

// Metric returns the value of the s2s metric sample whose line starts
// with prefix (a name with labels as Prometheus writes them, e.g.
// `kontalk_s2s_auth_total{direction="out",method="key",result="success"}`),
// or 0 when there is none.
func (h *Host) Metric(t testing.TB, prefix string) float64 {
	t.Helper()
	for _, line := range strings.Split(h.get(t, "/metrics"), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

func (h *Host) get(t testing.TB, path string) string {
	t.Helper()
	client := &http.Client{Timeout: Timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + h.S2SAdmin + path)
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

// WaitOutLink waits until the s2s process has an established outbound
// link to remote and returns it.
func (h *Host) WaitOutLink(t testing.TB, remote string) server.OutInfo {
	t.Helper()
	var got server.OutInfo
	testkit.Eventually(t, Timeout, "established link "+h.cfg.Host+" → "+remote, func() bool {
		for _, o := range h.Connz(t).Out {
			if o.Remote == remote && o.State == "established" {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// Directory writes the network directory to a Redis.
type Directory struct {
	t   testing.TB
	rdb *redis.Client
}

// NewDirectory connects to the Redis at url.
func NewDirectory(t testing.TB, url string) *Directory {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	d := &Directory{t: t, rdb: redis.NewClient(opt)}
	t.Cleanup(func() { d.rdb.Close() })
	return d
}

// AddHost lists host with its server key fingerprint and s2s address,
// and gives it a lease.
func (d *Directory) AddHost(host, fingerprint, addr string) {
	d.t.Helper()
	v, _ := json.Marshal(map[string]any{"fp": fingerprint, "addr": addr, "enabled": true})
	if err := d.rdb.HSet(context.Background(), "hosts", host, v).Err(); err != nil {
		d.t.Fatal(err)
	}
	d.SetLease(host)
}

// SetLease gives the host a lease that outlasts the test (sm renews a
// 15 s lease every 5 s; tests set it once).
func (d *Directory) SetLease(host string) {
	d.t.Helper()
	if err := d.rdb.Set(context.Background(), "lease:{"+host+"}", "1", 10*time.Minute).Err(); err != nil {
		d.t.Fatal(err)
	}
}

// DropLease removes the host's lease, as if it stopped renewing it.
func (d *Directory) DropLease(host string) {
	d.t.Helper()
	if err := d.rdb.Del(context.Background(), "lease:{"+host+"}").Err(); err != nil {
		d.t.Fatal(err)
	}
}

// FreeLoopback returns an address on port 5269 of a loopback address
// 127.x.y.z nobody listens on, for servers that find each other without
// SRV records (port 5269 is implied).
func FreeLoopback(t testing.TB) string {
	t.Helper()
	for range 100 {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		if b[2] == 0 || b[2] == 255 {
			continue
		}
		addr := net.JoinHostPort(fmt.Sprintf("127.%d.%d.%d", b[0]%254+1, b[1], b[2]), "5269")
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback address for port 5269")
	return ""
}
