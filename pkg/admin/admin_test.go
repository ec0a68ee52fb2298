package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/kontalk/xmppd/pkg/admin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs s on a random loopback port until the test ends, and
// returns its base URL.
func startServer(t *testing.T, s *admin.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + s.Addr()
}

// get fetches url with a client whose idle connections are closed after the
// request, so no goroutine outlives the test.
func get(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestHealthz(t *testing.T) {
	base := startServer(t, admin.New("127.0.0.1:0", nil, zaptest.NewLogger(t)))
	status, _, body := get(t, http.MethodGet, base+admin.PathHealth)
	if status != http.StatusOK || body != "ok\n" {
		t.Fatalf("GET /healthz = %d %q", status, body)
	}
	if status, _, _ := get(t, http.MethodHead, base+admin.PathHealth); status != http.StatusOK {
		t.Fatalf("HEAD /healthz = %d", status)
	}
	status, hdr, _ := get(t, http.MethodPost, base+admin.PathHealth)
	if status != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /healthz = %d, Allow %q", status, hdr.Get("Allow"))
	}
	if status, _, _ := get(t, http.MethodGet, base+"/nope"); status != http.StatusNotFound {
		t.Fatalf("GET /nope = %d", status)
	}
	if status, _, _ := get(t, http.MethodGet, base+admin.PathMetrics); status != http.StatusNotFound {
		t.Fatalf("GET /metrics without registry = %d", status)
	}
}

func TestReadyz(t *testing.T) {
	s := admin.New("127.0.0.1:0", nil, zaptest.NewLogger(t))
	base := startServer(t, s)

	// No checks: ready.
	if status, _, body := get(t, http.MethodGet, base+admin.PathReady); status != http.StatusOK || body != "ok\n" {
		t.Fatalf("no checks: %d %q", status, body)
	}

	var routerReady atomic.Bool
	if err := s.AddCheck("router", admin.CheckerFunc(func(context.Context) error {
		if !routerReady.Load() {
			return errors.New("not connected")
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck("redis", admin.CheckerFunc(func(ctx context.Context) error {
		// A check stuck on a dependency is cut off by the check timeout.
		<-ctx.Done()
		return ctx.Err()
	})); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck("store", admin.CheckerFunc(func(context.Context) error { return nil })); err != nil {
		t.Fatal(err)
	}

	status, _, body := get(t, http.MethodGet, base+admin.PathReady)
	want := "redis: context deadline exceeded\nrouter: not connected\n"
	if status != http.StatusServiceUnavailable || body != want {
		t.Fatalf("failing checks: %d %q, want 503 %q", status, body, want)
	}

	routerReady.Store(true)
	results := s.CheckReady(context.Background())
	if len(results) != 3 || results[0].Name != "redis" || results[0].Err == nil || results[1].Err != nil || results[2].Err != nil {
		t.Fatalf("CheckReady = %+v", results)
	}
}

func TestAddCheckErrors(t *testing.T) {
	s := admin.New("127.0.0.1:0", nil, nil)
	ok := admin.CheckerFunc(func(context.Context) error { return nil })
	if err := s.AddCheck("a", ok); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck("a", ok); err == nil {
		t.Error("duplicate check accepted")
	}
	if err := s.AddCheck("", ok); err == nil {
		t.Error("unnamed check accepted")
	}
	if err := s.AddCheck("b", nil); err == nil {
		t.Error("nil check accepted")
	}
}

func TestMetrics(t *testing.T) {
	reg := admin.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "kontalk_test_hits_total", Help: "Test hits."})
	reg.MustRegister(hits)
	hits.Add(3)
	base := startServer(t, admin.New("127.0.0.1:0", reg, zaptest.NewLogger(t)))

	status, hdr, body := get(t, http.MethodGet, base+admin.PathMetrics)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %q", status, hdr.Get("Content-Type"))
	}
	for _, want := range []string{"kontalk_test_hits_total 3\n", "go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The process's registry is served, not the global default one.
	if strings.Contains(body, "promhttp_metric_handler_requests_total") {
		t.Error("/metrics serves the default registry")
	}
}

type routez struct {
	Routes []string `json:"routes"`
}

func TestHandleJSON(t *testing.T) {
	s := admin.New("127.0.0.1:0", nil, zaptest.NewLogger(t))
	var calls atomic.Int32
	if err := s.HandleJSON("/routez", func() any {
		calls.Add(1)
		return routez{Routes: []string{"sm.example"}}
	}); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)

	// Endpoints may also be added while serving.
	if err := s.HandleJSON("/connz", func() any { return map[string]int{"open": 2} }); err != nil {
		t.Fatal(err)
	}
	if err := s.HandleJSON("/bad", func() any { return func() {} }); err != nil {
		t.Fatal(err)
	}

	status, hdr, body := get(t, http.MethodGet, base+"/routez")
	var got routez
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /routez = %d %q", status, hdr.Get("Content-Type"))
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Routes) != 1 || got.Routes[0] != "sm.example" {
		t.Fatalf("GET /routez body %q: %v", body, err)
	}
	if calls.Load() != 1 {
		t.Fatalf("value built %d times", calls.Load())
	}
	if status, _, body := get(t, http.MethodGet, base+"/connz"); status != http.StatusOK || body != "{\n  \"open\": 2\n}\n" {
		t.Fatalf("GET /connz = %d %q", status, body)
	}
	if status, _, _ := get(t, http.MethodGet, base+"/bad"); status != http.StatusInternalServerError {
		t.Fatalf("GET /bad = %d, want 500", status)
	}
}

func TestHandleJSONErrors(t *testing.T) {
	s := admin.New("127.0.0.1:0", nil, nil)
	fn := func() any { return nil }
	for _, path := range []string{"", "/", "routez", "/a b", "/{x}", "GET /x", admin.PathHealth, admin.PathReady, admin.PathMetrics} {
		if err := s.HandleJSON(path, fn); err == nil {
			t.Errorf("HandleJSON(%q) accepted", path)
		}
	}
	if err := s.HandleJSON("/routez", nil); err == nil {
		t.Error("nil func accepted")
	}
	if err := s.HandleJSON("/routez", fn); err != nil {
		t.Fatal(err)
	}
	if err := s.HandleJSON("/routez", fn); err == nil {
		t.Error("duplicate path accepted")
	}
}

func TestLifecycle(t *testing.T) {
	s := admin.New("127.0.0.1:0", nil, zaptest.NewLogger(t))
	if s.Addr() != "" {
		t.Fatalf("Addr before Listen = %q", s.Addr())
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Fatal("Serve before Listen succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(ctx); err == nil {
		t.Fatal("second Listen succeeded")
	}
	addr := s.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr = %q", addr)
	}
	// The port is bound before Serve: a second server cannot take it.
	if err := admin.New(addr, nil, nil).Listen(ctx); err == nil {
		t.Fatal("second server bound the same address")
	}

	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	if status, _, _ := get(t, http.MethodGet, "http://"+addr+admin.PathHealth); status != http.StatusOK {
		t.Fatalf("GET /healthz = %d", status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Fatal("second Serve succeeded")
	}
}

func TestRunListenError(t *testing.T) {
	if err := admin.New("256.0.0.1:0", nil, nil).Run(context.Background()); err == nil {
		t.Fatal("Run on an invalid address succeeded")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := admin.New("127.0.0.1:0", nil, nil).Run(ctx); err != nil {
		t.Fatalf("Run with a done context: %v", err)
	}
}

func TestProfiling(t *testing.T) {
	s := admin.New("127.0.0.1:0", nil, zaptest.NewLogger(t))
	base := startServer(t, s)
	if status, _, _ := get(t, http.MethodGet, base+admin.PathProfiling+"goroutine?debug=1"); status != http.StatusNotFound {
		t.Fatalf("profiler served before EnableProfiling: %d", status)
	}
	s.EnableProfiling()
	status, _, body := get(t, http.MethodGet, base+admin.PathProfiling+"goroutine?debug=1")
	if status != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile = %d %.80q", status, body)
	}
	if status, _, body := get(t, http.MethodGet, base+admin.PathProfiling+"cmdline"); status != http.StatusOK || body == "" {
		t.Fatalf("cmdline = %d %q", status, body)
	}
}
