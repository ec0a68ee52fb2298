package test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
)

// proc is a server process that can be killed and started again on the
// same addresses.
type proc struct {
	name, bin string
	args      []string
	admin     string
	p         *testkit.Process
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	p.p = testkit.StartProcess(t, p.name, p.bin, p.args, []string{"KONTALK_SECRET=" + secret})
	testkit.WaitReady(t, "http://"+p.admin+"/readyz", timeout)
}

// restart kills the process with SIGKILL, as a crash would, and starts
// it again.
func (p *proc) restart(t testing.TB) {
	t.Helper()
	p.p.Kill()
	p.start(t)
}

// metric reads a counter or gauge from the process's /metrics (the sum
// over its label sets matching labels, a substring such as
// `result="session"`).
func (p *proc) metric(t testing.TB, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) || !strings.Contains(line, labels) {
			continue
		}
		if rest := line[len(name):]; rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		var v float64
		fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
		sum += v
	}
	return sum
}

// testNetwork is a single-host network: Redis, the router, the resolver,
// two sm instances, and the stand-in c2s.
type testNetwork struct {
	t        testing.TB
	redis    *testkit.Redis
	router   *proc
	resolver *proc
	sms      []*proc
	store    *store.Store
	c2s      *standin
	// routerAddr is the router's component listener.
	routerAddr string
}

// netOptions tune the processes for a test.
type netOptions struct {
	// smArgs are added to every sm's arguments.
	smArgs []string
	// memoryOnly runs Redis without its append-only file (benchmarks of
	// the servers rather than of the disk).
	memoryOnly bool
}

func startNetwork(t testing.TB, o netOptions) *testNetwork {
	t.Helper()
	n := &testNetwork{t: t}
	n.redis = testkit.StartRedis(t, testkit.RedisOptions{AppendOnly: !o.memoryOnly})
	routerAddr := testkit.FreeAddr(t)
	n.routerAddr = routerAddr
	n.router = &proc{name: "router", bin: routerBin, admin: testkit.FreeAddr(t)}
	n.router.args = []string{"-listen", routerAddr, "-admin", n.router.admin, "-log-format", "console", "-log-level", "warn"}
	n.router.start(t)
	level := "warn"
	if l := os.Getenv("SM_TEST_LOG_LEVEL"); l != "" {
		level = l // debug shows every session's start and end
	}
	common := []string{"-host", host, "-network", network, "-router", routerAddr, "-redis", n.redis.URL(), "-log-format", "console", "-log-level", level}
	n.resolver = &proc{name: "resolver", bin: resolverBin, admin: testkit.FreeAddr(t)}
	n.resolver.args = append([]string{"-admin", n.resolver.admin, "-name", "resolver-1." + host, "-hosts-every", "200ms"}, common...)
	n.resolver.start(t)
	for i := 1; i <= 2; i++ {
		p := &proc{name: fmt.Sprintf("sm-%d", i), bin: smBin, admin: testkit.FreeAddr(t)}
		p.args = append([]string{
			"-admin", p.admin, "-name", fmt.Sprintf("sm-%d.%s", i, host), "-server-key", serverKeyFile,
			"-sweep-every", "1s", "-redeliver-after", "3s", "-lease-every", "1s", "-lease-ttl", "3s",
		}, common...)
		p.args = append(p.args, o.smArgs...)
		p.start(t)
		n.sms = append(n.sms, p)
	}
	st, err := store.Open(store.Options{URL: n.redis.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n.store = st
	n.c2s = startStandin(t, routerAddr, "c2s-1."+host)
	return n
}

// user creates an account for name and returns its localpart. Its key is
// a placeholder: nothing but the auth action checks keys.
func (n *testNetwork) user(name string) string {
	n.t.Helper()
	u := phoneHash(name)
	sum := sha1.Sum([]byte("key:" + name))
	fp := strings.ToUpper(hex.EncodeToString(sum[:]))
	ok, err := n.store.Users.Create(context.Background(), u, store.User{Fingerprint: fp, Key: []byte("public key of " + name), Home: host})
	if err != nil || !ok {
		n.t.Fatalf("create user %s: %v %v", name, ok, err)
	}
	return u
}

// fingerprint is the placeholder fingerprint of a user made by user.
func fingerprint(name string) string {
	sum := sha1.Sum([]byte("key:" + name))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// login creates the user and opens a session for it, with initial
// presence sent.
func (n *testNetwork) login(name string) Client {
	n.t.Helper()
	u := n.user(name)
	c := n.c2s.connect(n.t, u, "phone")
	c.Send(n.t, "<presence/>")
	c.Sync(n.t)
	return c
}
