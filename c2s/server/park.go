package server

import (
	"errors"
	"time"
)

// Parking. A bound connection with nothing to read gives up its
// goroutine: its socket is handed to the poller and a timer is set for
// the next thing its silence needs (a ping, a keepalive, a timeout).
// Whichever comes first (input, the timer, a close) resumes it on a new
// goroutine. Idle connections are the common case for a messaging
// server, and a goroutine blocked in a TLS read holds a stack of about
// 4 KiB.

// Park states of a connection.
const (
	running int32 = iota
	parked
)

// errParked says that the connection's goroutine ends while it waits
// for input.
var errParked = errors.New("parked")

// canPark reports whether the connection may park.
func (c *conn) canPark() bool {
	return c.srv.poller != nil && c.phase == phaseSession && c.moved
}

// tryPark parks the connection until input, d, or a close. It reports
// false when parking failed and the caller must wait on its own.
func (c *conn) tryPark(d time.Duration) bool {
	c.park.Store(parked)
	c.mu.Lock()
	c.parkTimer = time.AfterFunc(d, c.unpark)
	c.mu.Unlock()
	if err := c.srv.poller.add(c); err != nil {
		if c.park.CompareAndSwap(parked, running) {
			c.stopParkTimer()
			return false
		}
		// A timer or a close resumed it already.
	}
	return true
}

// unpark resumes a parked connection on a new goroutine; it does
// nothing for a running one. The connection keeps its place in
// Server.wg while parked.
func (c *conn) unpark() {
	if !c.park.CompareAndSwap(parked, running) {
		return
	}
	go func() {
		c.srv.poller.remove(c)
		c.stopParkTimer()
		c.loop()
	}()
}

func (c *conn) stopParkTimer() {
	c.mu.Lock()
	t := c.parkTimer
	c.parkTimer = nil
	c.mu.Unlock()
	if t != nil {
		t.Stop()
	}
}

// probe reads what TLS holds already (decrypted data, whole records),
// without touching the socket: with a deadline in the past the read
// gives up before its system call. It reports whether input is there (the
// byte is peeked) and returns the read's error otherwise; a timeout
// means nothing is buffered, and TLS keeps any incomplete record.
func (c *conn) probe() (bool, error) {
	c.raw.SetReadDeadline(time.Unix(1, 0))
	err := c.src.peek()
	if err == nil {
		return true, nil
	}
	if isTimeout(err) {
		return false, nil
	}
	return false, err
}
