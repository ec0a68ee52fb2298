//go:build unix

package testkit_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/testkit"
)

// resp encodes a Redis command in RESP.
func resp(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

func TestRedisAppendOnly(t *testing.T) {
	r := testkit.StartRedis(t, testkit.RedisOptions{AppendOnly: true})
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") ||
		!strings.Contains(r.URL(), r.Addr()) {
		t.Fatalf("URL = %q, Addr = %q", r.URL(), r.Addr())
	}

	c := testkit.Dial(t, r.Addr())
	c.Send(resp("PING"))
	c.Expect("+PONG\r\n", timeout)
	c.Send(resp("SET", "inbox:{alice}", "hello"))
	c.Expect("+OK\r\n", timeout)

	if _, err := os.Stat(filepath.Join(r.Dir(), "appendonlydir")); err != nil {
		t.Fatalf("no append-only file: %v", err)
	}
	addr := r.Addr()
	r.Kill()
	c.ExpectClosed(timeout)
	r.Restart()
	if r.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", r.Addr(), addr)
	}

	c = testkit.Dial(t, r.Addr())
	c.Send(resp("GET", "inbox:{alice}"))
	c.Expect("$5\r\nhello\r\n", timeout)
	c.Send(resp("QUIT"))
	c.Expect("+OK\r\n", timeout)
	c.ExpectClosed(timeout)
}

func TestRedisInMemory(t *testing.T) {
	r := testkit.StartRedis(t, testkit.RedisOptions{})
	c := testkit.Dial(t, r.Addr())
	c.Send(resp("SET", "k", "v"))
	c.Expect("+OK\r\n", timeout)
	// Restart kills a running server itself.
	r.Restart()
	c = testkit.Dial(t, r.Addr())
	c.Send(resp("GET", "k"))
	c.Expect("$-1\r\n", timeout)
}
