package testkit_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kontalk/xmppd/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a testing.TB that records failures instead of failing the
// test, to check the helpers' failure paths.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Errorf(format string, args ...any) { r.record(format, args...) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.record(format, args...)
	runtime.Goexit()
}

// failures runs f on its own goroutine, as Fatalf ends it, and returns the
// failures f reported.
func failures(t *testing.T, f func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.failures, "\n")
}

func TestFreeAddr(t *testing.T) {
	addr := testkit.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on free address: %v", err)
	}
	ln.Close()
	if p := testkit.FreePort(t); p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d", p)
	}
}

func TestEventually(t *testing.T) {
	calls := 0
	testkit.Eventually(t, 10*time.Second, "third call", func() bool {
		calls++
		return calls == 3
	})
	msg := failures(t, func(tb testing.TB) {
		testkit.Eventually(tb, 20*time.Millisecond, "pigs fly", func() bool { return false })
	})
	if !strings.Contains(msg, "pigs fly: not true within 20ms") {
		t.Fatalf("failure = %q", msg)
	}
}

func TestWaitReady(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) < 3 || r.URL.Path != "/readyz" {
			http.Error(w, "router: not connected", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()

	testkit.WaitReady(t, srv.URL+"/readyz", 10*time.Second)
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	msg := failures(t, func(tb testing.TB) {
		testkit.WaitReady(tb, srv.URL+"/never", 50*time.Millisecond)
	})
	if !strings.Contains(msg, "503 Service Unavailable") || !strings.Contains(msg, "router: not connected") {
		t.Fatalf("failure = %q", msg)
	}
}

func TestWaitDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	testkit.WaitDial(t, addr, 10*time.Second)
	ln.Close()
	msg := failures(t, func(tb testing.TB) { testkit.WaitDial(tb, addr, 50*time.Millisecond) })
	if !strings.Contains(msg, "does not accept connections") {
		t.Fatalf("failure = %q", msg)
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func TestConnExpect(t *testing.T) {
	client, server := tcpPair(t)
	c := testkit.NewConn(t, client)
	go func() {
		defer server.Close()
		// The match spans writes, and more data follows it.
		for _, part := range []string{"<stream:stream id='1'>", "<stream:feat", "ures/><iq type='result'/>"} {
			if _, err := server.Write([]byte(part)); err != nil {
				return
			}
		}
	}()
	if got := c.Expect("<stream:features/>", 10*time.Second); got != "<stream:stream id='1'><stream:features/>" {
		t.Fatalf("Expect = %q", got)
	}
	got := c.ExpectFunc("an iq", func(data []byte) int {
		if i := strings.Index(string(data), "/>"); i >= 0 && strings.HasPrefix(string(data), "<iq") {
			return i + 2
		}
		return -1
	}, 10*time.Second)
	if got != "<iq type='result'/>" {
		t.Fatalf("ExpectFunc = %q", got)
	}
	if rest := c.ExpectClosed(10 * time.Second); rest != "" {
		t.Fatalf("ExpectClosed = %q", rest)
	}
}

func TestConnExpectFailures(t *testing.T) {
	client, server := tcpPair(t)
	if _, err := server.Write([]byte("<stream:error>")); err != nil {
		t.Fatal(err)
	}
	msg := failures(t, func(tb testing.TB) {
		testkit.NewConn(tb, client).Expect("<success", 50*time.Millisecond)
	})
	if !strings.Contains(msg, `expecting "<success": timed out; received: "<stream:error>"`) {
		t.Fatalf("failure = %q", msg)
	}

	client, server = tcpPair(t)
	server.Close()
	msg = failures(t, func(tb testing.TB) {
		testkit.NewConn(tb, client).Expect("<success", time.Second)
	})
	if !strings.Contains(msg, "EOF") {
		t.Fatalf("failure = %q", msg)
	}
}
