package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Fixed paths served by every admin server.
const (
	PathHealth  = "/healthz"
	PathReady   = "/readyz"
	PathMetrics = "/metrics"
)

const (
	// checkTimeout bounds each readiness check, so that a stuck dependency
	// yields 503 rather than a hung probe.
	checkTimeout = 2 * time.Second
	// shutdownTimeout bounds the wait for in-flight requests on shutdown.
	shutdownTimeout = 5 * time.Second
	// readHeaderTimeout drops clients that open a connection and stall.
	readHeaderTimeout = 5 * time.Second
)

// Checker is implemented by parts of a process that can tell whether they
// can do their work: Ready returns nil when they can, or an error saying why
// not. Ready is called on every /readyz request, so it must be quick, and
// must return when ctx is done.
type Checker interface {
	Ready(ctx context.Context) error
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) error

// Ready calls f(ctx).
func (f CheckerFunc) Ready(ctx context.Context) error { return f(ctx) }

// NewRegistry returns a Prometheus registry holding the Go runtime and
// process collectors, for a process to add its own metrics to.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Server is an admin HTTP server. Checks and JSON endpoints may be added
// before or while it serves.
type Server struct {
	addr    string
	log     *zap.Logger
	metrics http.Handler // nil when New got no registry

	mu        sync.Mutex            // guards the fields below
	listener  net.Listener          // set by Listen
	serving   bool                  // Serve was called
	checks    map[string]Checker    // by name
	endpoints map[string]func() any // JSON endpoints, by path
	profiling bool                  // serve /debug/pprof/
}

// New returns a server that will listen on addr (host:port; port 0 picks a
// free one) and serve reg on /metrics. A nil reg leaves /metrics unserved
// (404); a nil log discards logs. New does no I/O.
func New(addr string, reg *prometheus.Registry, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		addr:      addr,
		log:       log,
		checks:    make(map[string]Checker),
		endpoints: make(map[string]func() any),
	}
	if reg != nil {
		s.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:      zap.NewStdLog(log),
			ErrorHandling: promhttp.ContinueOnError,
			// Counts failed gathers in the process's own registry.
			Registry: reg,
		})
	}
	return s
}

// AddCheck registers c under name for /readyz. Names are unique.
func (s *Server) AddCheck(name string, c Checker) error {
	if name == "" || c == nil {
		return errors.New("admin: check needs a name and a Checker")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.checks[name]; dup {
		return fmt.Errorf("admin: check %q already registered", name)
	}
	s.checks[name] = c
	return nil
}

// PathProfiling is the prefix of the Go profiler's endpoints
// (net/http/pprof), served only after EnableProfiling.
const PathProfiling = "/debug/pprof/"

// EnableProfiling serves the Go profiler under PathProfiling. It is
// opt-in: a CPU profile costs the process while it runs, and the admin
// address should stay private anyway.
func (s *Server) EnableProfiling() {
	s.mu.Lock()
	s.profiling = true
	s.mu.Unlock()
}

// HandleJSON serves, on GET path, the value fn returns, encoded as JSON.
// fn is called once per request and may be called concurrently. The path
// must be a plain absolute path, not one of the fixed paths, and not
// registered before.
func (s *Server) HandleJSON(path string, fn func() any) error {
	if !validPath(path) || fn == nil {
		return fmt.Errorf("admin: invalid JSON endpoint %q", path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, dup := s.endpoints[path]
	if dup || path == PathHealth || path == PathReady || path == PathMetrics {
		return fmt.Errorf("admin: path %q already served", path)
	}
	s.endpoints[path] = fn
	return nil
}

func validPath(path string) bool {
	if len(path) < 2 || path[0] != '/' {
		return false
	}
	for _, c := range path {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/-_.", c)) {
			return false
		}
	}
	return true
}

// Listen binds the server's address. After it returns, Addr reports the
// address bound and connections queue until Serve accepts them; Serve owns
// the listener from then on and closes it when it returns.
func (s *Server) Listen(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return errors.New("admin: already listening")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("admin: listen: %w", err)
	}
	s.listener = ln
	return nil
}

// Addr returns the address the server listens on, or "" before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Serve answers requests on the address bound by Listen until ctx is done,
// then lets in-flight requests finish (for at most a few seconds) and
// returns once every goroutine it started has ended. It returns nil after
// such a shutdown, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := s.startServing()
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          zap.NewStdLog(s.log),
		// Requests see ctx, so readiness checks stop when the process does.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	s.log.Info("admin server listening", zap.String("addr", ln.Addr().String()))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("admin: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("admin server shutdown timed out, closing connections", zap.Error(err))
		// Close ends the remaining connections; its error repeats Shutdown's.
		_ = srv.Close()
	}
	<-served // http.ErrServerClosed
	return nil
}

func (s *Server) startServing() (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil, errors.New("admin: Serve called before Listen")
	}
	if s.serving {
		return nil, errors.New("admin: Serve called twice")
	}
	s.serving = true
	return s.listener, nil
}

// Run is Listen followed by Serve.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		return err
	}
	return s.Serve(ctx)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case PathHealth:
		writeText(w, http.StatusOK, "ok\n")
	case PathReady:
		s.serveReady(w, r)
	case PathMetrics:
		if s.metrics == nil {
			http.NotFound(w, r)
			return
		}
		s.metrics.ServeHTTP(w, r)
	default:
		s.mu.Lock()
		fn := s.endpoints[r.URL.Path]
		profiling := s.profiling
		s.mu.Unlock()
		if profiling && strings.HasPrefix(r.URL.Path, PathProfiling) {
			serveProfiling(w, r)
			return
		}
		if fn == nil {
			http.NotFound(w, r)
			return
		}
		s.serveJSON(w, r.URL.Path, fn)
	}
}

func serveProfiling(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, PathProfiling) {
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	default:
		pprof.Index(w, r) // the index and the named profiles (heap, goroutine, ...)
	}
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body)) // a failed write means the client went away
}

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	Name string
	Err  error // nil when ready
}

// CheckReady runs every registered check, in name order, each under its own
// timeout, and returns their results. /readyz reports the same results.
func (s *Server) CheckReady(ctx context.Context) []CheckResult {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for name := range s.checks {
		names = append(names, name)
	}
	checks := make([]Checker, len(names))
	slices.Sort(names)
	for i, name := range names {
		checks[i] = s.checks[name]
	}
	s.mu.Unlock()

	results := make([]CheckResult, len(names))
	for i, name := range names {
		checkCtx, cancel := context.WithTimeout(ctx, checkTimeout)
		results[i] = CheckResult{Name: name, Err: checks[i].Ready(checkCtx)}
		cancel()
	}
	return results
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	var failed strings.Builder
	for _, res := range s.CheckReady(r.Context()) {
		if res.Err != nil {
			fmt.Fprintf(&failed, "%s: %v\n", res.Name, res.Err)
		}
	}
	if failed.Len() > 0 {
		writeText(w, http.StatusServiceUnavailable, failed.String())
		return
	}
	writeText(w, http.StatusOK, "ok\n")
}

func (s *Server) serveJSON(w http.ResponseWriter, path string, fn func() any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(fn()); err != nil {
		s.log.Error("admin endpoint value not encodable", zap.String("path", path), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes()) // a failed write means the client went away
}
