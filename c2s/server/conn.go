package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Close reasons besides stream error conditions, used as the log field and
// metric label.
const (
	reasonClosed       = "closed"        // the client closed its stream
	reasonLost         = "lost"          // the connection ended without a stream close
	reasonTimeout      = "timeout"       // pre-auth deadline or unanswered ping
	reasonWriteError   = "write-error"   // a write failed or timed out
	reasonSlowConsumer = "slow-consumer" // the client did not read what it was sent
	reasonShutdown     = "shutdown"      // the server is stopping
	reasonPeerError    = "peer-error"    // the client sent a stream error
	reasonTLSFailed    = "tls-failed"    // the TLS handshake failed
	reasonConflict     = "conflict"      // replaced by a newer session
	reasonSessionEnded = "session-ended" // sm ended the session
	reasonAuthFailures = "auth-failures" // too many failed authentications
)

// phase is how far a connection got; it selects the stream features and
// the handler of what the client sends.
type phase uint8

const (
	phaseTLS     phase = iota // clear text, STARTTLS required
	phaseAuth                 // TLS, not authenticated: SASL and registration
	phaseBind                 // authenticated: bind or resume
	phaseSession              // bound
)

// Limits before authentication: small, shallow elements.
const (
	preAuthDepth = 16
	preAuthAttrs = 32
)

// closeCause is why a connection ends: a reason for logs and metrics and
// the stream error to send, if any.
type closeCause struct {
	reason string
	serr   *stream.Error
}

func (c *closeCause) Error() string {
	if c.serr != nil {
		return c.serr.Error()
	}
	return c.reason
}

// fail returns the cause of closing with a stream error.
func fail(cond stream.Condition, text string) *closeCause {
	return &closeCause{reason: string(cond), serr: &stream.Error{Condition: cond, Text: text}}
}

// conn is one client connection. Its goroutine (serve) reads and handles
// everything the client sends and owns the fields not marked otherwise;
// bytes for the client go through its writer.
type conn struct {
	srv     *Server
	id      uint64
	raw     net.Conn
	tc      *tls.Conn // once TLS is up
	remote  netip.AddrPort
	direct  bool
	started time.Time

	src source
	r   *xml.Reader
	w   *writer
	// wake is signalled when something the goroutine may wait for
	// happened: an answer from sm, room in the unconfirmed window, a
	// request to close.
	wake    chan struct{}
	closing atomic.Bool

	phase    phase
	opened   bool      // our stream header for the current stream was sent
	lang     string    // the client stream's xml:lang
	deadline time.Time // before binding: when the connection must be done
	lastRead time.Time
	pingAt   time.Time // when the unanswered ping was sent; zero if none
	pingID   string    // id of our unanswered XEP-0199 ping

	moved bool         // the session runs on its own goroutine
	park  atomic.Int32 // running or parked (park.go)

	authFailures int
	registers    int
	verified     *identity // the client certificate's identity, once checked
	verifyErr    error
	sess         *session

	in, out atomic.Uint64 // stanzas read and delivered, for /connz

	mu      sync.Mutex // guards the fields below
	user    string     // the authenticated localpart
	bound   string     // the full JID, once bound
	waiting string     // the sm answer awaited: actionAuth, actionRegister or ""
	reply   *envelope
	cause   *closeCause // why another goroutine closes the connection
	// parkTimer resumes the connection when its silence needs an answer.
	parkTimer *time.Timer
}

func newConn(s *Server, nc net.Conn, id uint64, remote netip.AddrPort, direct bool) *conn {
	now := time.Now()
	c := &conn{
		srv:      s,
		id:       id,
		raw:      nc,
		remote:   remote,
		direct:   direct,
		started:  now,
		wake:     make(chan struct{}, 1),
		deadline: now.Add(s.opts.PreAuthTimeout),
		lastRead: now,
	}
	c.src = source{c: c, conn: nc, rate: int64(s.opts.Rate), burst: int64(s.opts.Burst), tokens: int64(s.opts.Burst), at: now.UnixNano()}
	c.w = newWriter(nc, s.opts.MaxQueue, s.opts.WriteTimeout, &s.wg, func() { c.kill(reasonWriteError, nil) })
	return c
}

func (c *conn) logger() *zap.Logger {
	l := c.srv.log.With(zap.Uint64("conn", c.id), zap.Stringer("remote", c.remote))
	if j := c.boundJID(); j != "" {
		l = l.With(zap.String("jid", j))
	}
	return l
}

func (c *conn) boundJID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound
}

func (c *conn) localpart() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// serve runs the connection until it ends.
// loop runs the connection until it ends, parks or moves to another
// goroutine. A connection holds one count in Server.wg from admission to
// the end of finish, whichever goroutine runs it.
func (c *conn) loop() {
	cause := c.run()
	if cause == errMoved {
		return
	}
	c.finish(cause)
	c.srv.wg.Done()
}

// errMoved says that the connection goes on on a new goroutine, or waits
// parked for one.
var errMoved = &closeCause{reason: "moved"}

func (c *conn) run() *closeCause {
	if c.r == nil {
		if c.direct {
			if cause := c.handshake(); cause != nil {
				return cause
			}
			c.phase = phaseAuth
		}
		c.r = xml.NewReader(&c.src, c.preAuthLimits())
	}
	for {
		if c.phase == phaseSession && !c.moved {
			// The TLS handshake and the key checks grew this goroutine's
			// stack far beyond what a session needs; the runtime shrinks
			// a stack only while most of it is unused, so the session
			// goes on on a fresh goroutine with a small one.
			c.moved = true
			go c.loop()
			return errMoved
		}
		top, err := c.next()
		if err == errParked {
			return errMoved
		}
		if err != nil {
			return c.readFailure(err)
		}
		var cause *closeCause
		switch {
		case top.Kind == xml.KindOpen:
			cause = c.openStream()
		case top.Kind == xml.KindClose:
			return &closeCause{reason: reasonClosed}
		case top.Is("stream:error"):
			c.logger().Info("client sent a stream error", zap.ByteString("error", top.Raw))
			return &closeCause{reason: reasonPeerError}
		default:
			switch c.phase {
			case phaseTLS:
				cause = c.handleTLS(top)
			case phaseAuth:
				cause = c.handleAuth(top)
			case phaseBind:
				cause = c.handleBind(top)
			case phaseSession:
				cause = c.handleSession(top)
			}
		}
		if cause != nil {
			return cause
		}
		if c.closing.Load() {
			return c.closeCause()
		}
	}
}

func (c *conn) preAuthLimits() xml.Limits {
	return xml.Limits{MaxElementBytes: c.srv.opts.MaxPreAuthStanza, MaxDepth: preAuthDepth, MaxAttrs: preAuthAttrs,
		MaxAttrBytes: c.srv.opts.MaxPreAuthStanza, MaxTextBytes: c.srv.opts.MaxPreAuthStanza}
}

// errPingTimeout means the client did not answer the server's ping.
var errPingTimeout = errors.New("no answer to the ping")

// errPreAuthTimeout means the client did not authenticate in time.
var errPreAuthTimeout = errors.New("not authenticated in time")

// errClosing means another goroutine closes the connection.
var errClosing = errors.New("connection closing")

// readFailure turns the error that ended reading into the cause of closing.
func (c *conn) readFailure(err error) *closeCause {
	if c.closing.Load() || errors.Is(err, errClosing) {
		return c.closeCause()
	}
	if se := stream.FromReadError(err); se != nil {
		return &closeCause{reason: string(se.Condition), serr: se}
	}
	switch {
	case errors.Is(err, errPreAuthTimeout):
		text := "not authenticated within " + c.srv.opts.PreAuthTimeout.String()
		if c.phase == phaseBind {
			text = "no resource bound within " + c.srv.opts.PreAuthTimeout.String()
		}
		return &closeCause{reason: reasonTimeout, serr: &stream.Error{Condition: stream.ConnectionTimeout, Text: text}}
	case errors.Is(err, errPingTimeout):
		return &closeCause{reason: reasonTimeout, serr: &stream.Error{Condition: stream.ConnectionTimeout, Text: "no answer to the server's ping"}}
	case isTimeout(err):
		return &closeCause{reason: reasonTimeout, serr: &stream.Error{Condition: stream.ConnectionTimeout, Text: "an element took too long to arrive"}}
	}
	return &closeCause{reason: reasonLost}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closeCause returns why another goroutine closes the connection.
func (c *conn) closeCause() *closeCause {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return c.cause
	}
	return &closeCause{reason: reasonLost}
}

// kill makes the connection close with reason and stream error serr. It
// may be called from any goroutine; the first cause given wins.
func (c *conn) kill(reason string, serr *stream.Error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = &closeCause{reason: reason, serr: serr}
	}
	c.mu.Unlock()
	c.closing.Store(true)
	// Interrupt a read in progress (see waitInput) and any wait. Deadlines
	// are set on the TCP connection, which TLS reads from.
	c.raw.SetReadDeadline(time.Unix(1, 0))
	c.poke()
	c.unpark()
}

// poke wakes the connection's goroutine if it waits.
func (c *conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// errWaitTimeout means what was awaited did not happen in time.
var errWaitTimeout = errors.New("timed out")

// wait blocks until done reports true, the timeout passes (zero: no
// timeout) or the connection is closing. done is checked after every wake.
func (c *conn) wait(timeout time.Duration, done func() bool) error {
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		if c.closing.Load() {
			return errClosing
		}
		if done() {
			return nil
		}
		select {
		case <-c.wake:
		case <-timer:
			if done() {
				return nil
			}
			return errWaitTimeout
		}
	}
}

// next returns the next unit the client sends. While nothing is buffered
// it drops the read buffer and waits for input outside the XML reader, so
// idle connections cost little and the waits can time out (pings, the
// pre-auth deadline) without breaking the reader.
func (c *conn) next() (*xml.Top, error) {
	if c.r.Buffered() == 0 {
		c.r.Release()
		if err := c.waitInput(); err != nil {
			return nil, err
		}
	}
	// What started arriving must be complete in reasonable time.
	d := time.Now().Add(c.srv.opts.PingInterval)
	if c.phase < phaseSession {
		d = c.deadline
	}
	c.raw.SetReadDeadline(d)
	top, err := c.r.Next()
	if err == nil && top.Kind == xml.KindElement {
		c.in.Add(1)
	}
	return top, err
}

// waitInput waits for the next byte, answering the silences: pre-auth
// deadline, pings, whitespace keepalives.
func (c *conn) waitInput() error {
	for c.canPark() {
		if c.closing.Load() {
			return errClosing
		}
		got, err := c.probe()
		switch {
		case got:
			c.lastRead = time.Now()
			c.pingAt = time.Time{}
			return nil
		case err != nil:
			return err
		case c.closing.Load():
			return errClosing
		}
		now := time.Now()
		if d := c.idleDeadline(); now.Before(d) {
			if c.srv.poller.pending(c) || !c.tryPark(d.Sub(now)) {
				break // input is there, or parking failed: read it below
			}
			return errParked
		}
		if err := c.onIdle(now); err != nil {
			return err
		}
	}
	for {
		c.raw.SetReadDeadline(c.idleDeadline())
		// Checked after setting the deadline: kill sets the flag, then a
		// past deadline, so one of the two is seen (see kill).
		if c.closing.Load() {
			return errClosing
		}
		err := c.src.peek()
		if err == nil {
			c.lastRead = time.Now()
			c.pingAt = time.Time{}
			return nil
		}
		if !isTimeout(err) || c.closing.Load() {
			return err
		}
		if err := c.onIdle(time.Now()); err != nil {
			return err
		}
	}
}

// idleDeadline is when the connection's silence needs an answer.
func (c *conn) idleDeadline() time.Time {
	if c.phase < phaseSession {
		return c.deadline
	}
	o := &c.srv.opts
	d := c.lastRead.Add(o.PingInterval)
	if !c.pingAt.IsZero() {
		d = c.pingAt.Add(o.PingTimeout)
	}
	if k := c.w.silentSince().Add(o.Keepalive); k.Before(d) {
		d = k
	}
	return d
}

// onIdle answers a silence that reached idleDeadline.
func (c *conn) onIdle(now time.Time) error {
	o := &c.srv.opts
	switch {
	case c.phase < phaseSession:
		if now.Before(c.deadline) {
			return nil
		}
		return errPreAuthTimeout
	case !c.pingAt.IsZero():
		if !now.Before(c.pingAt.Add(o.PingTimeout)) {
			return errPingTimeout
		}
	case !now.Before(c.lastRead.Add(o.PingInterval)):
		c.pingAt = now
		c.ping()
		return nil
	}
	if !now.Before(c.w.silentSince().Add(o.Keepalive)) {
		c.w.write([]byte{' '})
	}
	return nil
}

// ping checks that a silent client is still there: with an XEP-0198
// request when stream management is on (its answer is not a stanza), an
// XEP-0199 ping otherwise (its answer is consumed here).
func (c *conn) ping() {
	c.srv.m.pings.Inc()
	if c.sess.smEnabled() {
		c.w.write([]byte("<r xmlns='" + NSSM + "'/>"))
		return
	}
	c.pingID = "c2s-ping-" + newID(4)
	buf := []byte("<iq type='get' id='" + c.pingID + "' from='")
	buf = xml.AppendEscapedAttr(buf, c.srv.opts.Network, '\'')
	buf = append(buf, "' to='"...)
	buf = xml.AppendEscapedAttr(buf, c.sess.jid, '\'')
	buf = append(buf, "'><ping xmlns='"+NSPing+"'/></iq>"...)
	c.w.write(buf)
}

// openStream answers a stream header: ours, then the features of the
// phase the connection is in.
func (c *conn) openStream() *closeCause {
	h := c.r.Header()
	n := c.srv.opts.Network
	switch to := h.Get("to"); {
	case h.Name != "stream:stream" || !declares(h.Scope, "stream", xml.NSStream):
		return fail(stream.InvalidNamespace, "expected a stream:stream header in "+xml.NSStream)
	case h.Scope.Default != stream.NSClient:
		return fail(stream.InvalidNamespace, "clients speak "+stream.NSClient)
	case to != "" && !sameDomain(to, n):
		return fail(stream.HostUnknown, "this server serves "+n)
	case !version1(h.Get("version")):
		return fail(stream.UnsupportedVersion, "XMPP 1.0 streams only")
	}
	c.lang = h.Get("xml:lang")
	buf := stream.AppendOpen(nil, stream.Open{NS: stream.NSClient, From: n, ID: newID(12), Version: "1.0", Lang: "en"})
	buf = c.appendFeatures(buf)
	c.opened = true
	if !c.w.write(buf) {
		return &closeCause{reason: reasonWriteError}
	}
	return nil
}

// declares reports whether the scope binds prefix to uri.
func declares(s xml.Scope, prefix, uri string) bool {
	got, ok := s.URI(prefix)
	return ok && got == uri
}

// version1 reports whether a stream version is 1.x or later (RFC 6120
// §4.7.5: a missing version means 0.9).
func version1(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 1
}

// appendFeatures appends the stream features of the current phase.
func (c *conn) appendFeatures(dst []byte) []byte {
	o := &c.srv.opts
	dst = append(dst, "<stream:features>"...)
	maxBytes, idle := o.MaxPreAuthStanza, o.PreAuthTimeout
	switch c.phase {
	case phaseTLS:
		dst = append(dst, "<starttls xmlns='"+NSTLS+"'><required/></starttls>"...)
	case phaseAuth:
		if c.clientCertificate() != nil {
			dst = append(dst, "<mechanisms xmlns='"+NSSASL+"'><mechanism>EXTERNAL</mechanism></mechanisms>"...)
		}
		dst = append(dst, "<register xmlns='"+NSRegisterFeature+"'/>"...)
	case phaseBind:
		dst = append(dst, "<bind xmlns='"+NSBind+"'/><session xmlns='"+NSSession+"'><optional/></session>"...)
		dst = append(dst, "<sm xmlns='"+NSSM+"'/><csi xmlns='"+NSCSI+"'/>"...)
		maxBytes, idle = o.MaxStanza, o.PingInterval+o.PingTimeout
	}
	// XEP-0478: what this stream accepts.
	dst = append(dst, "<limits xmlns='"+NSLimits+"'><max-bytes>"...)
	dst = strconv.AppendInt(dst, int64(maxBytes), 10)
	dst = append(dst, "</max-bytes><idle-seconds>"...)
	dst = strconv.AppendInt(dst, int64(idle/time.Second), 10)
	dst = append(dst, "</idle-seconds></limits></stream:features>"...)
	return dst
}

// clientCertificate returns the DER of the certificate the client
// presented, or nil.
func (c *conn) clientCertificate() []byte {
	if c.tc == nil {
		return nil
	}
	certs := c.tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil
	}
	return certs[0].Raw
}

// handleTLS handles what comes before TLS: only <starttls/>.
func (c *conn) handleTLS(top *xml.Top) *closeCause {
	if !top.Is("starttls") || top.Value("xmlns") != NSTLS {
		return fail(stream.PolicyViolation, "TLS is required: send <starttls/> first")
	}
	if c.r.Buffered() != 0 {
		// Bytes sent before the handshake must not be read as if they came
		// through TLS (STARTTLS command injection).
		c.w.write([]byte("<failure xmlns='" + NSTLS + "'/>"))
		return &closeCause{reason: "starttls-injection"}
	}
	if !c.w.write([]byte("<proceed xmlns='" + NSTLS + "'/>")) {
		return &closeCause{reason: reasonWriteError}
	}
	if cause := c.handshake(); cause != nil {
		return cause
	}
	c.r.Reset(&c.src)
	c.opened = false
	c.phase = phaseAuth
	return nil
}

// handshake runs the TLS handshake on the raw connection.
func (c *conn) handshake() *closeCause {
	tc := tls.Server(c.raw, c.srv.tlsConf)
	c.raw.SetDeadline(c.deadline)
	err := tc.Handshake()
	c.raw.SetDeadline(time.Time{})
	if err != nil {
		why := handshakeFailure(err)
		c.srv.m.tlsFailures.WithLabelValues(why).Inc()
		c.logger().Info("TLS handshake failed", zap.String("why", why), zap.Error(err))
		return &closeCause{reason: reasonTLSFailed}
	}
	c.tc = tc
	c.src.conn = tc
	c.w.setConn(tc)
	return nil
}

// finish closes the connection: the stream error and the end of the
// stream are written, the session ends or waits for resumption, and the
// socket is closed once the client had a moment to read.
func (c *conn) finish(cause *closeCause) {
	c.closing.Store(true)
	var final []byte
	if cause.reason != reasonTLSFailed && cause.reason != reasonWriteError {
		if cause.serr != nil {
			if !c.opened {
				final = stream.AppendOpen(final, stream.Open{NS: stream.NSClient, From: c.srv.opts.Network, ID: newID(12), Version: "1.0"})
			}
			final = cause.serr.AppendXML(final)
		}
		if c.opened || cause.serr != nil {
			final = append(final, stream.Close...)
		}
	}
	c.w.finish(final, time.Now().Add(time.Second))
	if c.sess != nil {
		c.srv.detachOrEnd(c.sess, c, cause.reason)
	}
	log := c.logger()
	if cause.serr != nil {
		log.Info("connection closed", zap.String("reason", cause.reason),
			zap.String("condition", string(cause.serr.Condition)), zap.String("text", cause.serr.Text))
	} else {
		log.Debug("connection closed", zap.String("reason", cause.reason))
	}
	if c.tc != nil && cause.reason != reasonTLSFailed {
		c.tc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		c.tc.CloseWrite()
	}
	lingerClose(c.raw)
	c.srv.closed(c, cause.reason)
}

// lingerClose closes a connection after its last write so that the peer
// reads that write: closing a socket with unread input makes the kernel
// reset the connection, which can discard the stream error in flight.
func lingerClose(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseWrite()
		nc.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
	}
	nc.Close()
}
