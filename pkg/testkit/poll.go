package testkit

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Polling starts fast and backs off, so a condition met at once costs
// little and a slow one does not spin.
const (
	pollFirst = 5 * time.Millisecond
	pollMax   = 100 * time.Millisecond
)

// poll calls cond until it returns true or timeout elapses, and reports
// whether it returned true. cond is called at least once.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	interval := pollFirst
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		timer.Reset(min(interval, left))
		<-timer.C
		interval = min(2*interval, pollMax)
	}
}

// Eventually polls cond until it returns true, and fails the test if it does
// not within timeout; what describes the condition in the failure message.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("%s: not true within %v", what, timeout)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns "127.0.0.1:<port>" for a port that was free a moment ago,
// for processes that take a listen address but cannot report the port they
// picked.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// WaitDial polls addr until a TCP connection succeeds, and fails the test if
// none does within timeout.
func WaitDial(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	var lastErr error
	ok := poll(timeout, func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			lastErr = err
			return false
		}
		conn.Close()
		return true
	})
	if !ok {
		t.Fatalf("testkit: %s does not accept connections within %v: %v", addr, timeout, lastErr)
	}
}

// WaitReady polls url (a process's /readyz) with GET until it answers 200,
// and fails the test, saying what it last got, if it does not within
// timeout.
func WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	// No keep-alive: no idle connection outlives the call.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last string
	ok := poll(timeout, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)) // best effort, for the failure message
		last = fmt.Sprintf("%s %q", resp.Status, body)
		return resp.StatusCode == http.StatusOK
	})
	if !ok {
		t.Fatalf("testkit: %s not ready within %v: last answer: %s", url, timeout, last)
	}
}
