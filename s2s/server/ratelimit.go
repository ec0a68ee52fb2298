package server

import (
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// minRefill is how many bytes a stream over its rate waits for before it
// reads again, so a throttled stream makes few small reads.
const minRefill = 4 << 10

// errStreamClosing is returned by a throttled read when the stream is
// being closed.
var errStreamClosing = errors.New("stream closing")

// errPreAuthBudget is returned when a peer sent more than it may before
// authenticating.
var errPreAuthBudget = errors.New("too much data before authentication")

// rateReader is a token bucket in front of a connection: each byte read
// takes a token, tokens come back at rate per second up to burst, and
// when none are left Read waits. The peer is then simply not read from,
// so TCP flow control slows it down (backpressure) instead of the server
// buffering or disconnecting it. It is used by one goroutine.
type rateReader struct {
	src    io.Reader
	rate   float64 // bytes per second; 0: unlimited
	burst  float64
	tokens float64
	last   time.Time
	done   <-chan struct{}
	// waited is told how long each throttled read waited.
	waited func(time.Duration)
	// budget is what may still be read until authed is set (by any
	// goroutine: a dialback answer completes authentication).
	budget int
	authed *atomic.Bool
}

func newRateReader(src io.Reader, rate, burst int, done <-chan struct{}, waited func(time.Duration)) *rateReader {
	return &rateReader{src: src, rate: float64(rate), burst: float64(burst), tokens: float64(burst),
		last: time.Now(), done: done, waited: waited}
}

func (r *rateReader) refill(now time.Time) {
	r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	r.last = now
}

func (r *rateReader) Read(p []byte) (int, error) {
	if r.authed != nil && !r.authed.Load() {
		if r.budget <= 0 {
			return 0, errPreAuthBudget
		}
		p = p[:min(len(p), r.budget)]
		n, err := r.read(p)
		r.budget -= n
		return n, err
	}
	return r.read(p)
}

func (r *rateReader) read(p []byte) (int, error) {
	if r.rate <= 0 || len(p) == 0 {
		return r.src.Read(p)
	}
	now := time.Now()
	r.refill(now)
	if r.tokens < 1 {
		want := min(float64(minRefill), r.burst)
		wait := time.Duration((want - r.tokens) / r.rate * float64(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.done:
			t.Stop()
			return 0, errStreamClosing
		}
		if r.waited != nil {
			r.waited(wait)
		}
		r.refill(time.Now())
	}
	n := min(len(p), int(r.tokens))
	n, err := r.src.Read(p[:n])
	r.tokens -= float64(n)
	return n, err
}
