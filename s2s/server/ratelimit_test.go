package server

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
)

// Before authentication a stream may send its budget and no more; once
// authenticated (by any goroutine) the budget no longer applies.
func TestPreAuthBudget(t *testing.T) {
	var authed atomic.Bool
	r := newRateReader(strings.NewReader(strings.Repeat("x", 100)), 0, 0, nil, nil)
	r.budget, r.authed = 10, &authed
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if n != 10 || err != nil {
		t.Fatalf("read %d %v, want the budget of 10", n, err)
	}
	if _, err := r.Read(buf); !errors.Is(err, errPreAuthBudget) {
		t.Fatalf("read past the budget: %v", err)
	}
	authed.Store(true)
	rest, err := io.ReadAll(r)
	if err != nil || len(rest) != 90 {
		t.Fatalf("after authentication: %d bytes, %v", len(rest), err)
	}
}

// A stream reads at most its tokens at once, and waits for more rather
// than failing; closing the stream ends the wait.
func TestRateReader(t *testing.T) {
	src := bytes.Repeat([]byte("y"), 1000)
	done := make(chan struct{})
	r := newRateReader(bytes.NewReader(src), 1, 300, done, nil)
	buf := make([]byte, 1000)
	n, err := r.Read(buf)
	if n != 300 || err != nil {
		t.Fatalf("first read %d %v, want the burst of 300", n, err)
	}
	close(done)
	// No tokens left at 1 byte/s: the read waits, and ends with the stream.
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, errStreamClosing) {
		t.Fatalf("throttled read: %d %v", n, err)
	}
}
