package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// recentCloses is how many closed connections Connz remembers.
const recentCloses = 64

// Server is the router.
type Server struct {
	opts  Options
	log   *zap.Logger
	m     *metrics
	epoch time.Time
	table atomic.Pointer[table]
	ids   atomic.Uint64

	ln    net.Listener
	ready chan struct{}

	// mu guards changes to the table, the set of connections and the
	// record of recent closes. Lock order: Server.mu, then a queue's own
	// lock (TryPush under mu); never the other way.
	mu     sync.Mutex
	conns  map[uint64]*conn
	recent []ClosedConn
	wg     sync.WaitGroup
}

// New validates opts and returns a router; it does no I/O. Metrics are
// registered on reg.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	components := make(map[string]string, len(opts.Components))
	for name, secret := range opts.Components {
		canon, _ := jid.AppendDomain(nil, []byte(name))
		components[string(canon)] = secret
	}
	opts.Components = components
	s := &Server{
		opts:  opts,
		log:   log,
		epoch: time.Now(),
		ready: make(chan struct{}),
		conns: make(map[uint64]*conn),
	}
	s.table.Store(&table{routes: map[string]*route{}})
	s.m = newMetrics(reg, s.queuedBytes)
	return s, nil
}

// now returns nanoseconds since the router started, from the monotonic
// clock: the stamps hop latency is measured with.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// Listen binds the listener, so that Addr is known before Run.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("router: listen: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr returns the address the router listens on, once listening.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Ready is closed when the router accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run accepts components until ctx ends, then closes every connection
// with system-shutdown (after flushing what is queued, within the
// shutdown timeout) and returns once all its goroutines have ended.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.log.Info("router listening", zap.Stringer("addr", s.ln.Addr()))
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
			return fmt.Errorf("router: accept: %w", err)
		}
		c := newConn(s, nc, s.ids.Add(1))
		s.mu.Lock()
		s.conns[c.id] = c
		s.mu.Unlock()
		s.m.accepted.Inc()
		s.m.connections.Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

// shutdown closes every connection and waits for them.
func (s *Server) shutdown() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(reasonShutdown, &stream.Error{Condition: stream.SystemShutdown, Text: "the router is stopping"}, true)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.opts.ShutdownTimeout):
		s.log.Warn("shutdown timeout: closing the remaining connections")
		for _, c := range conns {
			c.nc.Close()
		}
		<-done
	}
	s.log.Info("router stopped")
}

// secretFor returns the secret that authenticates name, whether such a
// component is trusted, and whether any secret applies.
func (s *Server) secretFor(name string) (secret string, trusted, ok bool) {
	if secret, ok := s.opts.Components[name]; ok {
		return secret, false, true
	}
	if s.opts.Secret != "" {
		return s.opts.Secret, true, true
	}
	return "", false, false
}

// register routes the handshake name to c and, for a trusted component,
// queues the current routes as presences.
func (s *Server) register(c *conn) *stream.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table.Load()
	if rt := t.routes[c.name]; rt != nil {
		owner := rt.conns[0]
		return &stream.Error{Condition: stream.Conflict, Text: c.name + " is already bound by connection " + fmt.Sprint(owner.id)}
	}
	n := t.clone()
	n.routes[c.name] = &route{name: c.name, conns: []*conn{c}}
	s.table.Store(n)
	c.bound = append(c.bound, c.name)
	c.registered = true
	if c.trusted {
		names := make([]string, 0, len(n.routes))
		for name := range n.routes {
			if name != c.name {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			if ok, _ := c.out.TryPush(component.AppendRoutePresence(nil, name, c.name, true), 0); !ok {
				return &stream.Error{Condition: stream.ResourceConstraint, Text: "too many routes to announce"}
			}
		}
	}
	s.notifyLocked(c.name, true, c)
	return nil
}

// bind adds a route for c. It returns the canonical name and an error to
// answer with, if any.
func (s *Server) bind(c *conn, b component.Bind) (string, *stanza.Error) {
	canon, ok := jid.AppendDomain(nil, []byte(b.Name))
	if !ok || b.Name == "" {
		return "", &stanza.Error{Condition: stanza.JIDMalformed, Text: "the name to bind is not a valid domain"}
	}
	name := string(canon)
	if !c.trusted {
		if b.Default {
			return name, &stanza.Error{Condition: stanza.NotAllowed, Text: "only the server's components may take the default route"}
		}
		if !underName(name, c.name) {
			return name, &stanza.Error{Condition: stanza.NotAllowed, Text: c.name + " may bind only its name and names under it"}
		}
	} else if _, reserved := s.opts.Components[name]; reserved {
		return name, &stanza.Error{Condition: stanza.NotAllowed, Text: name + " is reserved for a configured component"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.out.Closed() {
		return name, &stanza.Error{Condition: stanza.ServiceUnavailable, Text: "the connection is closing"}
	}
	t := s.table.Load()
	if b.Default && t.def != nil && t.def != c {
		return name, &stanza.Error{Condition: stanza.Conflict, Text: "the default route is taken by " + t.def.name}
	}
	rt := t.routes[name]
	added := false
	switch {
	case rt == nil:
		rt = &route{name: name, multi: b.Multi, conns: []*conn{c}}
		added = true
	case slices.Contains(rt.conns, c):
	case rt.multi && b.Multi:
		rt = rt.withConn(c)
	case rt.multi:
		return name, &stanza.Error{Condition: stanza.Conflict, Text: name + " is shared (multi): bind it with multi"}
	default:
		return name, &stanza.Error{Condition: stanza.Conflict, Text: name + " is already bound by " + rt.conns[0].name}
	}
	n := t.clone()
	n.routes[name] = rt
	if b.Default {
		n.def = c
		c.defaultName = name
	}
	s.table.Store(n)
	if !slices.Contains(c.bound, name) {
		c.bound = append(c.bound, name)
	}
	if added {
		s.notifyLocked(name, true, c)
	}
	c.log.Info("bound", zap.String("name", name), zap.Bool("multi", b.Multi), zap.Bool("default", b.Default))
	return name, nil
}

// unbind removes a route bound by c.
func (s *Server) unbind(c *conn, raw string) (string, *stanza.Error) {
	canon, ok := jid.AppendDomain(nil, []byte(raw))
	if !ok {
		return raw, &stanza.Error{Condition: stanza.JIDMalformed, Text: "the name to unbind is not a valid domain"}
	}
	name := string(canon)
	if name == c.name {
		return name, &stanza.Error{Condition: stanza.NotAllowed, Text: "the handshake name stays bound while connected"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(c.bound, name) {
		return name, &stanza.Error{Condition: stanza.ItemNotFound, Text: name + " is not bound by this connection"}
	}
	s.removeLocked(c, name)
	c.bound = slices.DeleteFunc(c.bound, func(n string) bool { return n == name })
	c.log.Info("unbound", zap.String("name", name))
	return name, nil
}

// removeLocked takes c out of the route name and publishes the table.
func (s *Server) removeLocked(c *conn, name string) {
	t := s.table.Load()
	n := t.clone()
	gone := false
	if rt := t.routes[name]; rt != nil {
		if left := rt.withoutConn(c); left != nil {
			n.routes[name] = left
		} else {
			delete(n.routes, name)
			gone = true
		}
	}
	if n.def == c && c.defaultName == name {
		n.def = nil
		c.defaultName = ""
	}
	s.table.Store(n)
	if gone {
		s.notifyLocked(name, false, c)
	}
}

// unregister removes every route of a closing connection.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range c.bound {
		s.removeLocked(c, name)
	}
}

// closed records the end of a connection.
func (s *Server) closed(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c.id]; !ok {
		return
	}
	delete(s.conns, c.id)
	s.m.connections.Dec()
	s.m.closed.WithLabelValues(c.reason).Inc()
	if _, units := c.out.Len(); units > 0 && !c.flush {
		s.m.dropped.WithLabelValues("connection-closed").Add(float64(units))
	}
	cc := ClosedConn{ID: c.id, Name: c.name, Remote: c.nc.RemoteAddr().String(), Reason: c.reason,
		Started: c.started, Closed: time.Now(), In: c.in.Load(), Out: c.outCount.Load()}
	if len(s.recent) == recentCloses {
		copy(s.recent, s.recent[1:])
		s.recent = s.recent[:recentCloses-1]
	}
	s.recent = append(s.recent, cc)
}

// notifyLocked queues a route presence to every trusted connection
// except the one that caused it. It runs under mu, so presences for one
// name are queued in the order the changes happened; a recipient without
// room for one is not reading and is closed after mu is released.
func (s *Server) notifyLocked(name string, up bool, except *conn) {
	var slow []*conn
	for _, r := range s.conns {
		if r == except || !r.registered || !r.trusted || r.out.Closed() {
			continue
		}
		if ok, _ := r.out.TryPush(component.AppendRoutePresence(nil, name, r.name, up), 0); !ok {
			slow = append(slow, r)
		}
	}
	if len(slow) > 0 {
		go func() {
			for _, r := range slow {
				r.slowConsumer()
			}
		}()
	}
}

// lookup returns the connection for a stanza to the canonical domain,
// or nil. bare is scratch space for the multi hash key. A stanza never
// goes back to the default route it came from.
func (s *Server) lookup(domain, to []byte, bare *[]byte, from *conn) *conn {
	t := s.table.Load()
	if rt := t.routes[string(domain)]; rt != nil {
		if len(rt.conns) == 1 {
			return rt.conns[0]
		}
		b, ok := jid.AppendBare((*bare)[:0], to)
		if !ok {
			b = append((*bare)[:0], domain...)
		}
		*bare = b
		return rt.pick(b)
	}
	if t.def != nil && t.def != from {
		return t.def
	}
	return nil
}

// deliver queues raw to target. When the queue is full the sender waits
// up to the stall time for room; if none comes, the target is a slow
// consumer and is disconnected. It reports whether raw was queued.
func (s *Server) deliver(target *conn, raw []byte, stamp int64) bool {
	ok, err := target.out.TryPush(raw, stamp)
	if !ok && err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Stall)
		err = target.out.Push(ctx, raw, stamp)
		cancel()
		ok = err == nil
		if errors.Is(err, context.DeadlineExceeded) {
			target.slowConsumer()
		}
	}
	if ok {
		target.outCount.Add(1)
		s.m.routed.Inc()
	}
	return ok
}

// bounce answers an undeliverable stanza with an error, routed to its
// sender like any stanza. Errors are never answered with errors.
func (s *Server) bounce(top *xml.Top, e *stanza.Error) {
	if !stanza.Bounceable(top) {
		s.m.dropped.WithLabelValues("undeliverable").Inc()
		return
	}
	s.m.bounced.WithLabelValues(string(e.Condition)).Inc()
	from := []byte(top.Value("from"))
	domain, ok := jid.AppendDomain(nil, from)
	if !ok {
		s.m.dropped.WithLabelValues("undeliverable").Inc()
		return
	}
	var bare []byte
	target := s.lookup(domain, from, &bare, nil)
	if target == nil || !s.deliver(target, stanza.AppendBounce(nil, top, e), 0) {
		s.m.dropped.WithLabelValues("undeliverable").Inc()
	}
}

// queuedBytes sums the queues, for the metric.
func (s *Server) queuedBytes() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	for _, c := range s.conns {
		b, _ := c.out.Len()
		n += b
	}
	return float64(n)
}
