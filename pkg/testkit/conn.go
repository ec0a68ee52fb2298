package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

const (
	// ioTimeout bounds dialing and each Send.
	ioTimeout = 10 * time.Second
	// maxExpect bounds what an Expect reads while looking for its match.
	maxExpect = 4 << 20
	// readSize is the room made for each read.
	readSize = 32 << 10
	// shownTail is how much of the unmatched data a failure message shows.
	shownTail = 2048
)

// Conn speaks raw protocol bytes (XMPP, RESP, ...) over a network
// connection, send/expect style. It knows nothing of XML: tests state the
// bytes they send and the bytes they expect to see. Its methods fail the
// test on error and are called from the test's goroutine.
type Conn struct {
	t       testing.TB
	nc      net.Conn
	pending []byte // read from nc but not yet consumed by an Expect
	eof     bool   // nc returned io.EOF
}

// Dial connects to addr over TCP and closes the connection when the test
// ends.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("testkit: dial %s: %v", addr, err)
	}
	return NewConn(t, nc)
}

// NewConn wraps nc, for instance a *tls.Conn after STARTTLS, and closes it
// when the test ends.
func NewConn(t testing.TB, nc net.Conn) *Conn {
	c := &Conn{t: t, nc: nc}
	t.Cleanup(func() { nc.Close() })
	return c
}

// NetConn returns the underlying connection, to upgrade it to TLS. Bytes an
// Expect read past its match stay in the Conn, so upgrade only once the
// peer waits for the client (after <proceed/>).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection.
func (c *Conn) Close() {
	c.t.Helper()
	if err := c.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		c.t.Errorf("testkit: close %s: %v", c.nc.RemoteAddr(), err)
	}
}

// Send writes s.
func (c *Conn) Send(s string) {
	c.t.Helper()
	if err := c.nc.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		c.t.Fatalf("testkit: send: %v", err)
	}
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("testkit: send %q: %v", s, err)
	}
}

// Expect reads until the data received contains substr, and returns that
// data up to the end of substr; what follows stays for the next Expect. The
// test fails if substr does not come within timeout.
func (c *Conn) Expect(substr string, timeout time.Duration) string {
	c.t.Helper()
	return c.ExpectFunc(substr, func(data []byte) int {
		i := bytes.Index(data, []byte(substr))
		if i < 0 {
			return -1
		}
		return i + len(substr)
	}, timeout)
}

// ExpectFunc is Expect with a matcher: match returns the offset just past
// the end of what it looks for in data, or -1 while it is not there. what
// names it in failure messages.
func (c *Conn) ExpectFunc(what string, match func(data []byte) int, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if end := match(c.pending); end >= 0 && end <= len(c.pending) {
			got := string(c.pending[:end])
			c.pending = c.pending[end:]
			return got
		}
		if err := c.readMore(deadline); err != nil {
			c.t.Fatalf("testkit: expecting %q: %v; received: %q", what, err, tail(c.pending))
		}
	}
}

// ExpectClosed reads until the peer closes the connection and returns what
// came before. The test fails if the connection stays open for timeout.
func (c *Conn) ExpectClosed(timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !c.eof {
		if err := c.readMore(deadline); err != nil && !c.eof {
			c.t.Fatalf("testkit: expecting the connection to close: %v; received: %q", err, tail(c.pending))
		}
	}
	got := string(c.pending)
	c.pending = nil
	return got
}

// readMore appends what the next read returns to pending.
func (c *Conn) readMore(deadline time.Time) error {
	if c.eof {
		return io.EOF
	}
	if len(c.pending) >= maxExpect {
		return errors.New("no match in the data read so far")
	}
	// An error here means the connection is closed (net.Pipe also says so
	// when the peer closed it): the Read below reports it precisely.
	_ = c.nc.SetReadDeadline(deadline)
	c.pending = slices.Grow(c.pending, readSize)
	n, err := c.nc.Read(c.pending[len(c.pending):cap(c.pending)])
	c.pending = c.pending[:len(c.pending)+n]
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		c.eof = true
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errors.New("timed out")
	default:
		return fmt.Errorf("read: %w", err)
	}
}

func tail(b []byte) []byte {
	if len(b) > shownTail {
		return b[len(b)-shownTail:]
	}
	return b
}
