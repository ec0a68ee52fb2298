// Package outbound is the bounded send queue of a connection: producers
// append serialized stanzas, one writer goroutine takes everything queued
// in a single batch and writes it with one call. Producers wait while the
// queue is full, so a slow peer slows its producers down instead of
// growing memory (backpressure), and a producer can give up waiting
// through its context.
package outbound

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Push after Close.
var ErrClosed = errors.New("outbound: queue closed")

// ErrTooLarge is returned by Push for a unit larger than the queue.
var ErrTooLarge = errors.New("outbound: unit larger than the queue")

// Queue is a bounded byte queue. The zero value is not usable; use New.
type Queue struct {
	max int

	mu      sync.Mutex
	buf     []byte
	stamps  []int64
	units   int
	closed  bool
	space   chan struct{} // closed when Take frees space; replaced then
	waiters bool          // someone waits on space
	ready   chan struct{} // one token: something was queued
}

// New returns a queue holding at most max bytes.
func New(max int) *Queue {
	return &Queue{max: max, space: make(chan struct{}), ready: make(chan struct{}, 1)}
}

// Ready is signalled when units are queued; the writer waits on it.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// TryPush queues raw if it fits now and reports whether it did. stamp is
// kept with the unit and handed back by Take (the writer can measure how
// long units waited); pass 0 when unused.
func (q *Queue) TryPush(raw []byte, stamp int64) (bool, error) {
	if len(raw) > q.max {
		return false, ErrTooLarge
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, ErrClosed
	}
	if len(q.buf)+len(raw) > q.max {
		q.mu.Unlock()
		return false, nil
	}
	q.buf = append(q.buf, raw...)
	q.stamps = append(q.stamps, stamp)
	q.units++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true, nil
}

// Push queues raw, waiting while the queue is full until there is room,
// the queue is closed or ctx is done.
func (q *Queue) Push(ctx context.Context, raw []byte, stamp int64) error {
	for {
		ok, err := q.TryPush(raw, stamp)
		if ok || err != nil {
			return err
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if len(q.buf)+len(raw) <= q.max {
			q.mu.Unlock()
			continue
		}
		ch := q.space
		q.waiters = true
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Take moves everything queued into the writer's buffers, which it
// passes back empty (reusing their memory), and returns the filled ones.
// Producers waiting for room are woken.
func (q *Queue) Take(buf []byte, stamps []int64) ([]byte, []int64) {
	q.mu.Lock()
	buf, q.buf = q.buf, buf[:0]
	stamps, q.stamps = q.stamps, stamps[:0]
	q.units = 0
	if q.waiters {
		close(q.space)
		q.space = make(chan struct{})
		q.waiters = false
	}
	q.mu.Unlock()
	return buf, stamps
}

// Len returns the bytes and units queued.
func (q *Queue) Len() (bytes, units int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf), q.units
}

// Close makes further pushes fail and wakes waiting producers. What is
// queued stays for a last Take.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	close(q.space)
	q.space = make(chan struct{})
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Closed reports whether Close was called.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
