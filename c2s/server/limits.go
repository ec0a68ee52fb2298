package server

import (
	"io"
	"net"
	"time"
)

// source is what a connection's XML reader reads: the connection (TCP,
// then TLS), through a token bucket that shapes how fast the client may
// send. When the bucket is empty the connection is simply not read until
// it refills, so a flooding client is slowed down by TCP's own flow
// control, not disconnected and not buffered. It also holds a byte
// peeked while the connection waited for input.
type source struct {
	c      *conn
	conn   net.Conn
	peeked bool
	b      [1]byte

	rate, burst int64 // bytes per second, bucket size
	tokens      int64 // bytes that may be read now (negative: owed)
	at          int64 // Unix nanoseconds of the last refill
}

// peek waits for one byte, which the next Read returns first.
func (s *source) peek() error {
	if s.peeked {
		return nil
	}
	if err := s.throttle(); err != nil {
		return err
	}
	n, err := s.conn.Read(s.b[:])
	if n == 1 {
		s.tokens--
		s.peeked = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Read implements io.Reader for the XML reader, which calls it on the
// connection's goroutine only.
func (s *source) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.peeked {
		s.peeked = false
		p[0] = s.b[0]
		return 1, nil
	}
	if err := s.throttle(); err != nil {
		return 0, err
	}
	if int64(len(p)) > s.burst {
		p = p[:s.burst]
	}
	n, err := s.conn.Read(p)
	s.tokens -= int64(n)
	return n, err
}

// throttle refills the bucket and, when it is empty, waits until it is
// not, or until the connection closes.
func (s *source) throttle() error {
	s.refill()
	if s.tokens > 0 {
		return nil
	}
	s.c.srv.m.throttled.Inc()
	wait := time.Duration((1 - s.tokens) * int64(time.Second) / s.rate)
	if err := s.c.wait(wait, func() bool { return false }); err != errWaitTimeout {
		return errClosing
	}
	s.refill()
	return nil
}

func (s *source) refill() {
	now := time.Now().UnixNano()
	elapsed := now - s.at
	if elapsed <= 0 {
		return
	}
	s.at = now
	// Past the time to fill the bucket from empty, it is full (and the
	// multiplication below cannot overflow).
	if full := (s.burst + 1 - s.tokens) * int64(time.Second) / s.rate; elapsed >= full {
		s.tokens = s.burst
		return
	}
	s.tokens = min(s.burst, s.tokens+elapsed*s.rate/int64(time.Second))
}
