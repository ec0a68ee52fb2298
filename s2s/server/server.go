package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// recentCloses is how many closed streams Connz remembers.
const recentCloses = 64

// Server is the s2s process.
type Server struct {
	opts   Options
	log    *zap.Logger
	m      *metrics
	keys   dialbackKeys
	dir    *directory // nil without a Redis directory
	router *component.Client

	ln    net.Listener
	ready chan struct{}
	ids   atomic.Uint64

	// names holds the names routed at the local router, from route
	// presence. Read on every stanza, changed rarely.
	namesMu sync.RWMutex
	names   map[string]bool

	// mu guards the maps of streams and links, the recent closes and
	// closing. Lock order: Server.mu, then an outLink's mu, then an
	// inStream's mu; a stream's write lock (wmu) is taken alone.
	mu       sync.Mutex
	links    map[pairKey]*outLink
	failures map[pairKey]*setupFailure // pairs whose last link did not come up
	ins      map[uint64]*inStream
	recent   []ClosedStream
	closing  bool

	// ctx is the server's lifetime, for router sends that must give up
	// when it stops.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // streams and links
}

// New validates opts and returns a server; it does no I/O. Metrics are
// registered on reg.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	keys, err := newDialbackKeys(opts.DialbackSecret)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     opts,
		log:      log,
		keys:     keys,
		ready:    make(chan struct{}),
		names:    map[string]bool{},
		links:    map[pairKey]*outLink{},
		failures: map[pairKey]*setupFailure{},
		ins:      map[uint64]*inStream{},
		ctx:      ctx,
		cancel:   cancel,
	}
	if opts.RedisURL != "" {
		s.dir, err = newDirectory(opts.RedisURL, opts.HostsRefresh, log.Named("directory"), reg)
		if err != nil {
			cancel()
			return nil, err
		}
	}
	s.router, err = component.New(component.Config{
		Addr:     opts.Router,
		Name:     opts.Name,
		Secret:   opts.Secret,
		Binds:    []component.Bind{{Name: opts.Name, Default: true}},
		OnStanza: s.fromRouter,
		OnRoute:  s.onRoute,
		OnDisconnect: func(error) {
			// Route presences are sent again after the next handshake.
			s.namesMu.Lock()
			clear(s.names)
			s.namesMu.Unlock()
		},
		Log: log.Named("router"),
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("s2s: %w", err)
	}
	s.m = newMetrics(reg, s.queuedBytes)
	return s, nil
}

// Listen binds the inbound listener, so that Addr is known before Run.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("s2s: listen: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr returns the inbound listener's address, once listening.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Ready is closed when Run accepts streams.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// CheckReady reports whether the server can carry stanzas: connected and
// bound at the router, and (with a directory) the directory read once.
func (s *Server) CheckReady() error {
	select {
	case <-s.ready:
	default:
		return errors.New("not accepting yet")
	}
	if !s.router.Connected() {
		return errors.New("not connected to the router")
	}
	return s.dir.ready()
}

// Run serves until ctx ends, then closes every stream (system-shutdown
// for inbound ones, after flushing outbound ones within the shutdown
// timeout) and returns once all its goroutines have ended.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	routerCtx, stopRouter := context.WithCancel(context.Background())
	routerDone := make(chan struct{})
	go func() {
		defer close(routerDone)
		s.router.Run(routerCtx)
	}()
	dirDone := make(chan struct{})
	go func() {
		defer close(dirDone)
		if s.dir != nil {
			s.dir.run(s.ctx)
		}
	}()
	s.log.Info("s2s listening", zap.Stringer("addr", s.ln.Addr()), zap.String("network", s.opts.Network),
		zap.String("host", s.opts.Host), zap.Bool("network_links", s.opts.HostIdentity != nil))
	close(s.ready)
	acceptErr := make(chan error, 1)
	go func() { acceptErr <- s.accept() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-acceptErr:
	}
	s.ln.Close()
	if err == nil {
		<-acceptErr
	}
	s.shutdown()
	// Bounces and the last inbound stanzas are in the router client's
	// queue: its Run flushes it on cancel.
	stopRouter()
	<-routerDone
	s.cancel()
	<-dirDone
	s.log.Info("s2s stopped")
	return err
}

func (s *Server) accept() error {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("s2s: accept: %w", err)
		}
		c := newInStream(s, nc, s.ids.Add(1))
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.ins[c.id] = c
		s.wg.Add(1)
		s.mu.Unlock()
		s.m.opened.WithLabelValues(dirIn).Inc()
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

// shutdown closes every stream and link and waits for them.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	ins := make([]*inStream, 0, len(s.ins))
	for _, c := range s.ins {
		ins = append(ins, c)
	}
	links := make([]*outLink, 0, len(s.links))
	for _, l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	for _, c := range ins {
		c.fail(stream.SystemShutdown, "the server is stopping")
	}
	for _, l := range links {
		l.shutdown()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(s.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("shutdown timeout: closing the remaining connections")
		for _, c := range ins {
			c.abort()
		}
		for _, l := range links {
			l.abort()
		}
		<-done
	}
}

// onRoute records the names the local router routes.
func (s *Server) onRoute(name string, up bool) {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	if up {
		s.names[name] = true
	} else {
		delete(s.names, name)
	}
}

// routed reports whether the local router has a route for name.
func (s *Server) routed(name string) bool {
	s.namesMu.RLock()
	defer s.namesMu.RUnlock()
	return s.names[name]
}

// toRouter queues a stanza of s2s's own (a bounce) for the router,
// giving up after the write timeout: a router that does not read is
// not waited for by the goroutine that found the stanza undeliverable.
func (s *Server) toRouter(raw []byte) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.WriteTimeout)
	defer cancel()
	if err := s.router.Send(ctx, raw); err != nil {
		s.m.dropped.WithLabelValues("router-unavailable").Inc()
		s.log.Warn("dropping a stanza for the router", zap.Error(err))
	}
}

// bounce answers a stanza with an error routed to its sender through the
// router. Errors and IQ results are never answered.
func (s *Server) bounce(top *xml.Top, e *stanza.Error) {
	if !stanza.Bounceable(top) {
		s.m.dropped.WithLabelValues("undeliverable").Inc()
		return
	}
	s.m.bounced.WithLabelValues(string(e.Condition)).Inc()
	s.toRouter(stanza.AppendBounce(nil, top, e))
}

// bounceRaw bounces a stanza kept as bytes (queued for a link).
func (s *Server) bounceRaw(raw []byte, e *stanza.Error) {
	top, err := xml.ParseTop(raw, xml.Scope{Default: stream.NSServer})
	if err != nil {
		s.m.dropped.WithLabelValues("undeliverable").Inc()
		return
	}
	s.bounce(top, e)
}

// recordClose keeps the close of a stream or link for Connz.
func (s *Server) recordClose(cc ClosedStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) == recentCloses {
		copy(s.recent, s.recent[1:])
		s.recent = s.recent[:recentCloses-1]
	}
	s.recent = append(s.recent, cc)
}

// queuedBytes sums the stanzas waiting for links, for the metric.
func (s *Server) queuedBytes() float64 {
	s.mu.Lock()
	links := make([]*outLink, 0, len(s.links))
	for _, l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	n := 0
	for _, l := range links {
		l.mu.Lock()
		n += l.pendingBytes
		l.mu.Unlock()
	}
	return float64(n)
}

// lingerClose closes a connection after its last write so that the peer
// reads that write: closing a socket with unread input makes the kernel
// reset the connection, which can discard the stream error in flight.
func lingerClose(nc net.Conn, raw net.Conn) {
	if tc, ok := raw.(*net.TCPConn); ok {
		if nc != raw {
			// TLS: close_notify first, then the TCP write side.
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			if cw, ok := nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}
		tc.CloseWrite()
		raw.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(raw, 1<<20))
	}
	nc.Close()
	raw.Close()
}
