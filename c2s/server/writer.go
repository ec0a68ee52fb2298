package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writer is a connection's outbound side. Whoever produces bytes for the
// client (the connection's own goroutine, the router's dispatcher, a
// timer) appends them under mu; the connection's goroutine writes what it
// produced itself, and bytes produced elsewhere are written by a flusher
// goroutine started only while there is something to write, so an idle
// connection has no writer goroutine and no buffer, and a slow client
// never blocks the dispatcher. Appends past max fail: the caller closes
// the connection (a slow consumer).
type writer struct {
	max int
	wg  *sync.WaitGroup // tracks the flusher goroutines
	// last is when the last write ended, in Unix nanoseconds (keepalives
	// are due after a silence).
	last atomic.Int64

	mu      sync.Mutex
	dst     net.Conn // changed by the connection's goroutine at STARTTLS, while nobody else writes
	timeout time.Duration
	buf     []byte // appended, not written yet
	busy    bool   // someone is writing; what is appended meanwhile is theirs to write
	closed  bool   // no more appends
	err     error  // the first write error
	idle    chan struct{}
	onFail  func() // called once, outside mu, after a write failed
}

func newWriter(dst net.Conn, max int, timeout time.Duration, wg *sync.WaitGroup, onFail func()) *writer {
	w := &writer{dst: dst, max: max, timeout: timeout, wg: wg, onFail: onFail}
	w.last.Store(time.Now().UnixNano())
	return w
}

// appendLocked adds b to what is to be written. mu is held.
func (w *writer) appendLocked(b []byte) bool {
	if w.closed || w.err != nil {
		return false
	}
	if len(w.buf)+len(b) > w.max {
		return false
	}
	w.buf = append(w.buf, b...)
	return true
}

// push appends b and makes sure it gets written without blocking the
// caller. It reports false when the connection is closing or b does not
// fit.
func (w *writer) push(b []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.appendLocked(b) {
		return false
	}
	if !w.busy {
		w.busy = true
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.flush()
		}()
	}
	return true
}

// add appends b without writing it: the connection's goroutine adds under
// a session lock and calls flushOwn once the lock is released.
func (w *writer) add(b []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appendLocked(b)
}

// flushOwn writes what was added, on the calling goroutine, unless
// someone is writing already (they write it then).
func (w *writer) flushOwn() bool {
	w.mu.Lock()
	if w.busy || len(w.buf) == 0 {
		w.mu.Unlock()
		return true
	}
	w.busy = true
	w.mu.Unlock()
	w.flush()
	return w.failed() == nil
}

// write appends b and, unless someone is already writing, writes it on
// the calling goroutine (the connection's own: waiting for a slow client
// there is backpressure on reading it).
func (w *writer) write(b []byte) bool {
	w.mu.Lock()
	if !w.appendLocked(b) {
		w.mu.Unlock()
		return false
	}
	if w.busy {
		w.mu.Unlock()
		return true
	}
	w.busy = true
	w.mu.Unlock()
	w.flush()
	return w.failed() == nil
}

// flush writes until nothing is left; the caller set busy.
func (w *writer) flush() {
	var out []byte
	for {
		w.mu.Lock()
		if len(w.buf) == 0 || w.err != nil {
			w.busy = false
			// An idle connection keeps no buffer.
			w.buf = nil
			if w.idle != nil {
				close(w.idle)
				w.idle = nil
			}
			w.mu.Unlock()
			return
		}
		out, w.buf = w.buf, out[:0]
		dst, timeout := w.dst, w.timeout
		w.mu.Unlock()

		dst.SetWriteDeadline(time.Now().Add(timeout))
		_, err := dst.Write(out)
		w.last.Store(time.Now().UnixNano())
		if err != nil {
			w.mu.Lock()
			first := w.err == nil
			if first {
				w.err = err
			}
			w.mu.Unlock()
			if first && w.onFail != nil {
				w.onFail()
			}
		}
	}
}

// failed returns the first write error.
func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// setConn changes the connection written to (STARTTLS).
func (w *writer) setConn(dst net.Conn) {
	w.mu.Lock()
	w.dst = dst
	w.mu.Unlock()
}

// finish appends the last bytes, refuses any more, and writes everything
// left, waiting at most until deadline for another writer to finish.
func (w *writer) finish(final []byte, deadline time.Time) {
	w.mu.Lock()
	w.buf = append(w.buf, final...)
	w.closed = true
	w.timeout = max(min(w.timeout, time.Until(deadline)), time.Millisecond)
	if !w.busy {
		w.busy = true
		w.mu.Unlock()
		w.flush()
		return
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	idle := w.idle
	w.mu.Unlock()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
}

// queued returns the bytes waiting to be written.
func (w *writer) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// silentSince returns the time of the last write.
func (w *writer) silentSince() time.Time { return time.Unix(0, w.last.Load()) }
