package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
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

// recentCloses is how many closed connections Connz remembers.
const recentCloses = 64

// Server is a c2s instance: it accepts client connections, authenticates
// them, and relays between them and sm through the router.
//
// Lock order: Server.mu, then a session's mu, then a conn's mu, then a
// writer's mu. No lock is held while writing to a socket or sending to the
// router.
type Server struct {
	opts    Options
	log     *zap.Logger
	m       *metrics
	tlsConf *tls.Config
	// tag makes connection names unique across restarts of this
	// instance, so a late answer meant for a previous run's connection
	// cannot reach a new one.
	tag    string
	router *component.Client
	poller *poller // nil where idle connections cannot park
	ids    atomic.Uint64

	ln, lnTLS net.Listener
	ready     chan struct{}
	// sendCtx bounds the waits for room in the router queue; it ends when
	// the shutdown deadline passes.
	sendCtx    context.Context
	sendCancel context.CancelFunc
	connects   atomic.Uint64 // router connections made

	mu        sync.Mutex
	conns     map[uint64]*conn
	perIP     map[netip.Addr]int
	sessions  map[string]*session // by sid
	byJID     map[string]*session // by full JID
	resumable map[string]*session // by XEP-0198 resumption id
	recent    []ClosedConn
	draining  bool
	wg        sync.WaitGroup // connections, flushers, resends, timers
}

// New validates opts, loads the TLS certificate and returns a server; it
// does no network I/O. Metrics are registered on reg.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	tlsConf, err := newTLSConfig(opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, err
	}
	var tag [4]byte
	if _, err := rand.Read(tag[:]); err != nil {
		return nil, fmt.Errorf("c2s: random: %w", err)
	}
	s := &Server{
		opts:      opts,
		log:       log,
		tlsConf:   tlsConf,
		tag:       hex.EncodeToString(tag[:]),
		ready:     make(chan struct{}),
		conns:     make(map[uint64]*conn),
		perIP:     make(map[netip.Addr]int),
		sessions:  make(map[string]*session),
		byJID:     make(map[string]*session),
		resumable: make(map[string]*session),
	}
	s.sendCtx, s.sendCancel = context.WithCancel(context.Background())
	s.m = newMetrics(reg)
	s.router, err = component.New(component.Config{
		Addr:         opts.Router,
		Name:         opts.Name,
		Secret:       opts.Secret,
		OnStanza:     s.dispatch,
		OnRoute:      s.onRoute,
		OnConnect:    s.onRouterConnect,
		OnDisconnect: func(error) { s.m.routerUp.Set(0) },
		Log:          log.Named("router"),
	})
	if err != nil {
		return nil, fmt.Errorf("c2s: %w", err)
	}
	return s, nil
}

// Listen binds the listeners, so that their addresses are known before Run.
func (s *Server) Listen() error {
	if s.ln != nil || s.lnTLS != nil {
		return nil
	}
	var err error
	if s.opts.Listen != "-" {
		if s.ln, err = net.Listen("tcp", s.opts.Listen); err != nil {
			return fmt.Errorf("c2s: listen: %w", err)
		}
	}
	if s.opts.ListenTLS != "-" {
		if s.lnTLS, err = net.Listen("tcp", s.opts.ListenTLS); err != nil {
			if s.ln != nil {
				s.ln.Close()
			}
			return fmt.Errorf("c2s: listen: %w", err)
		}
	}
	return nil
}

// Addr returns the STARTTLS listener's address, once listening.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// TLSAddr returns the direct TLS listener's address, once listening.
func (s *Server) TLSAddr() net.Addr {
	if s.lnTLS == nil {
		return nil
	}
	return s.lnTLS.Addr()
}

// Ready is closed once the listeners accept connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// RouterConnected reports whether the router connection is up.
func (s *Server) RouterConnected() bool { return s.router.Connected() }

// Run serves until ctx ends, then closes every client stream with
// system-shutdown, ends every session at sm, flushes the router queue and
// returns once all its goroutines have ended.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	var err error
	if s.poller, err = newPoller(s); err != nil {
		s.log.Warn("idle connections keep their goroutine", zap.Error(err))
	}
	routerCtx, stopRouter := context.WithCancel(context.Background())
	routerDone := make(chan struct{})
	go func() {
		defer close(routerDone)
		s.router.Run(routerCtx)
	}()

	acceptErr := make(chan error, 2)
	accepting := 0
	for _, l := range []struct {
		ln     net.Listener
		direct bool
	}{{s.ln, false}, {s.lnTLS, true}} {
		if l.ln == nil {
			continue
		}
		accepting++
		s.log.Info("listening", zap.Stringer("addr", l.ln.Addr()), zap.Bool("direct_tls", l.direct))
		go func() { acceptErr <- s.accept(l.ln, l.direct) }()
	}
	close(s.ready)

	tickDone := make(chan struct{})
	tickStop := make(chan struct{})
	go func() {
		defer close(tickDone)
		s.resendLoop(tickStop)
	}()

	select {
	case <-ctx.Done():
	case err = <-acceptErr:
		accepting--
	}
	for _, ln := range []net.Listener{s.ln, s.lnTLS} {
		if ln != nil {
			ln.Close()
		}
	}
	for ; accepting > 0; accepting-- {
		if e := <-acceptErr; err == nil {
			err = e
		}
	}
	close(tickStop)
	<-tickDone
	s.shutdown()
	if s.poller != nil {
		s.poller.close()
	}
	stopRouter()
	<-routerDone
	s.sendCancel()
	s.log.Info("c2s stopped")
	return err
}

// connName is how envelopes name a connection that has no session yet.
func (s *Server) connName(id uint64) string {
	return s.tag + "." + strconv.FormatUint(id, 10)
}

// connByName finds a connection by connName.
func (s *Server) connByName(name string) *conn {
	tag, num, ok := strings.Cut(name, ".")
	if !ok || tag != s.tag {
		return nil
	}
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// closed records the end of a connection.
func (s *Server) closed(c *conn, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c.id]; !ok {
		return
	}
	delete(s.conns, c.id)
	ip := c.remote.Addr()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.m.connections.Dec()
	s.m.closed.WithLabelValues(reason).Inc()
	cc := ClosedConn{ID: c.id, Remote: c.remote.String(), JID: c.boundJID(), Reason: reason,
		Started: c.started, Closed: time.Now(), In: c.in.Load(), Out: c.out.Load()}
	if len(s.recent) == recentCloses {
		copy(s.recent, s.recent[1:])
		s.recent = s.recent[:recentCloses-1]
	}
	s.recent = append(s.recent, cc)
}

// shutdown closes every connection, ends every session and waits for
// the connections' goroutines.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.draining = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.kill(reasonShutdown, &stream.Error{Condition: stream.SystemShutdown, Text: "the server is stopping"})
	}
	done := make(chan struct{})
	go func() {
		// Detached sessions end too; their timers are stopped first.
		s.endDetached()
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(s.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("shutdown timeout: closing the remaining connections")
		s.sendCancel()
		for _, c := range conns {
			c.raw.Close()
		}
		<-done
	}
}

// send hands an envelope to the router, waiting while its queue is full:
// that wait is what stops c2s from reading clients when the router or sm
// cannot keep up.
func (s *Server) send(raw []byte) error {
	if err := s.router.Send(s.sendCtx, raw); err != nil {
		s.m.envelopesLost.Inc()
		return err
	}
	return nil
}

// dispatch handles what the router delivers: envelopes from sm, and
// errors for envelopes the router could not deliver. It runs on the
// router connection's reading goroutine and never blocks on a client.
func (s *Server) dispatch(top *xml.Top) {
	if top.Value("type") == "error" {
		s.bounced(top)
		return
	}
	e, err := parseEnvelope(top)
	if err != nil {
		s.m.envelopesDropped.WithLabelValues("malformed").Inc()
		s.log.Debug("ignoring a stanza that is not a session envelope", zap.Error(err), zap.ByteString("stanza", top.Raw))
		return
	}
	switch {
	case e.conn != "":
		c := s.connByName(e.conn)
		if c == nil || !c.answer(&e) {
			s.m.envelopesDropped.WithLabelValues("unknown-conn").Inc()
		}
	case e.sid != "":
		s.mu.Lock()
		sess := s.sessions[e.sid]
		s.mu.Unlock()
		if sess == nil {
			s.m.envelopesDropped.WithLabelValues("unknown-sid").Inc()
			return
		}
		sess.fromSM(&e)
	default:
		s.m.envelopesDropped.WithLabelValues("malformed").Inc()
	}
}

// bounced handles the router's error for an envelope it could not
// deliver (no sm bound, sm too slow). The error names only the user:
// whatever that user's connections wait for fails for now; the user's
// sessions are started again, and their client stanzas sent again, by
// the resend loop.
func (s *Server) bounced(top *xml.Top) {
	from := top.Value("from")
	local, host, ok := strings.Cut(from, "@")
	s.m.envelopesDropped.WithLabelValues("bounced").Inc()
	if !ok || host != s.opts.Host {
		return
	}
	e := &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable, Text: "the session manager is unreachable"}
	if el, err := xml.Parse(top.Raw, componentScope); err == nil {
		if se := stanza.ParseError(el); se != nil {
			e = se
		}
	}
	s.mu.Lock()
	var waiting []*conn
	for _, c := range s.conns {
		if c.localpart() == local {
			waiting = append(waiting, c)
		}
	}
	var sessions []*session
	for _, sess := range s.sessions {
		if sess.localpart == local {
			sessions = append(sessions, sess)
		}
	}
	s.mu.Unlock()
	for _, c := range waiting {
		c.answer(&envelope{action: actionFailed, err: e, bounce: true})
	}
	for _, sess := range sessions {
		sess.startFailed(e)
	}
}

// onRoute follows the router's route presences: when an sm instance goes
// away, the client stanzas it had not confirmed go again, to whichever
// instance now serves their users.
func (s *Server) onRoute(name string, up bool) {
	if up {
		return
	}
	s.resend(func(sess *session) bool { return sess.smInstance() == name }, false)
}

// onRouterConnect runs after each router connection is up. After a
// reconnection the router may have restarted, or sm may have ended this
// instance's sessions when it saw the connection go: every session is
// started again (an update for sm when it still has it) and its
// unconfirmed stanzas sent again.
func (s *Server) onRouterConnect() {
	s.m.routerUp.Set(1)
	if s.connects.Add(1) == 1 {
		return
	}
	s.log.Info("router connection restored: restarting sessions at sm")
	s.resend(func(*session) bool { return true }, true)
}

// resend sends again, on a goroutine of its own, the unconfirmed stanzas
// of the sessions selected (and, with restart, their start first).
func (s *Server) resend(match func(*session) bool, restart bool) {
	s.mu.Lock()
	var list []*session
	for _, sess := range s.sessions {
		if match(sess) {
			list = append(list, sess)
		}
	}
	if len(list) == 0 || s.draining {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for _, sess := range list {
			for _, raw := range sess.pendingEnvelopes(restart, time.Time{}) {
				s.m.resent.Inc()
				if s.send(raw) != nil {
					return
				}
			}
		}
	}()
}

// resendLoop sends again client stanzas that stayed unconfirmed for a
// resend interval: envelopes lost with a router connection or an sm
// instance, or bounced.
func (s *Server) resendLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.opts.ResendInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			list := make([]*session, 0, len(s.sessions))
			for _, sess := range s.sessions {
				list = append(list, sess)
			}
			s.mu.Unlock()
			before := now.Add(-s.opts.ResendInterval)
			for _, sess := range list {
				for _, raw := range sess.pendingEnvelopes(false, before) {
					s.m.resent.Inc()
					if s.send(raw) != nil {
						break
					}
				}
			}
		}
	}
}

// newID returns n random bytes in hex.
func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
