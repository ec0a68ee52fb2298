package outbound

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPushTake(t *testing.T) {
	q := New(10)
	if ok, err := q.TryPush([]byte("abcd"), 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _ := q.TryPush([]byte("efgh"), 2); !ok {
		t.Fatal("second push refused")
	}
	if ok, err := q.TryPush([]byte("ijk"), 3); ok || err != nil {
		t.Fatalf("push over the limit: %v %v", ok, err)
	}
	if _, err := q.TryPush(make([]byte, 11), 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized unit: %v", err)
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("ready not signalled")
	}
	if n, u := q.Len(); n != 8 || u != 2 {
		t.Fatalf("Len = %d, %d", n, u)
	}
	buf, stamps := q.Take(nil, nil)
	if string(buf) != "abcdefgh" || len(stamps) != 2 || stamps[1] != 2 {
		t.Fatalf("Take = %q %v", buf, stamps)
	}
	if n, _ := q.Len(); n != 0 {
		t.Fatal("not empty after Take")
	}
}

// A producer blocked on a full queue proceeds once the writer takes,
// and gives up when its context ends.
func TestBackpressure(t *testing.T) {
	q := New(4)
	q.TryPush([]byte("abcd"), 0)
	done := make(chan error)
	go func() { done <- q.Push(context.Background(), []byte("efgh"), 0) }()
	select {
	case err := <-done:
		t.Fatalf("push into a full queue returned %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	buf, _ := q.Take(nil, nil)
	if string(buf) != "abcd" {
		t.Fatalf("took %q", buf)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := q.Push(ctx, []byte("ijkl"), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("push with expired context: %v", err)
	}
}

func TestClose(t *testing.T) {
	q := New(4)
	q.TryPush([]byte("abcd"), 0)
	done := make(chan error)
	go func() { done <- q.Push(context.Background(), []byte("x"), 0) }()
	for {
		q.mu.Lock()
		w := q.waiters
		q.mu.Unlock()
		if w {
			break
		}
		time.Sleep(time.Millisecond)
	}
	q.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting push after Close: %v", err)
	}
	if buf, _ := q.Take(nil, nil); string(buf) != "abcd" {
		t.Fatalf("queued data lost on Close: %q", buf)
	}
	if _, err := q.TryPush([]byte("y"), 0); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func BenchmarkPushTake(b *testing.B) {
	q := New(1 << 20)
	raw := make([]byte, 300)
	var buf []byte
	var stamps []int64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q.TryPush(raw, int64(i))
		if i%64 == 63 {
			buf, stamps = q.Take(buf, stamps)
		}
	}
}
