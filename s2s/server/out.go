package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// outLimits bound what an outbound link reads: the peer sends only
// negotiation elements and dialback answers on it.
var outLimits = xml.Limits{MaxElementBytes: 64 << 10}

// maxVerifies bounds the dialback verifications waiting on one link.
const maxVerifies = 256

// After a link fails to come up, stanzas for its pair are bounced at once
// for a while instead of each one trying again (a server that is down
// would otherwise get a connection attempt per stanza). The wait starts
// at retryFirst and doubles up to retryMaxFederation, or retryMaxNetwork
// for hosts of the network, which come back quickly after a restart.
const (
	retryFirst         = 500 * time.Millisecond
	retryMaxFederation = 30 * time.Second
	retryMaxNetwork    = 2 * time.Second
)

// setupFailure remembers a pair whose link could not be set up.
type setupFailure struct {
	until time.Time
	delay time.Duration
	cond  stanza.Condition
	text  string
}

// pairKey names an outbound link: the local domain it speaks for and the
// remote domain it reaches (RFC 6120 §4.3: streams are per domain pair).
// A link to another host of the network speaks for this host and
// carries every stanza for that host and the names under it.
type pairKey struct{ local, remote string }

type linkState int

const (
	linkConnecting     linkState = iota // DNS, TCP, TLS, stream features
	linkAuthenticating                  // negotiated: dialback verifications may flow
	linkEstablished                     // authenticated: stanzas flow
	linkClosed
)

func (st linkState) String() string {
	return [...]string{"connecting", "authenticating", "established", "closed"}[st]
}

// errQueueFull is returned when a link's queue has no room.
var errQueueFull = errors.New("queue full")

// verifyWaiter receives the answer to a dialback verification: valid, or
// the stanza error condition that prevented one.
type verifyWaiter func(valid bool, cond stanza.Condition)

// outLink is one outbound stream. Its run goroutine connects,
// negotiates, authenticates and then reads; its writer goroutine writes
// dialback requests as soon as the stream is negotiated and stanzas once
// it is authenticated.
type outLink struct {
	srv     *Server
	id      uint64
	local   string
	remote  string
	network bool   // to another host of the network
	hostFP  string // the remote host's key fingerprint (network)
	retry   bool   // carries the stanzas of a link that broke
	log     *zap.Logger
	started time.Time

	peerCertValid atomic.Bool // federated: the peer's certificate is valid for remote
	out           atomic.Uint64

	mu           sync.Mutex
	state        linkState
	pending      [][]byte // stanzas, written once established
	pendingBytes int
	ctrl         [][]byte // dialback verify requests
	verifies     map[string]verifyWaiter
	conn, raw    net.Conn // current transport (TLS or TCP), and the TCP connection
	addr         string
	tls          bool
	method       string
	peerMax      int    // XEP-0478 max-bytes the peer announced; 0: unknown
	reason       string // why it ended, the first cause given
	draining     bool   // the server stops: end once the queue is written
	finished     bool   // fail ran: the end is recorded
	wasUp        bool   // it was established at some point

	wmu       sync.Mutex // serializes writes to conn
	signal    chan struct{}
	stop      chan struct{} // closed when the link ends
	stopOnce  sync.Once
	writerEnd chan struct{} // closed when the writer has finished
}

func (s *Server) newLink(key pairKey, nh *networkHost, retry bool) *outLink {
	l := &outLink{
		srv:       s,
		id:        s.ids.Add(1),
		local:     key.local,
		remote:    key.remote,
		retry:     retry,
		started:   time.Now(),
		verifies:  map[string]verifyWaiter{},
		signal:    make(chan struct{}, 1),
		stop:      make(chan struct{}),
		writerEnd: make(chan struct{}),
	}
	kind := kindFederation
	if nh != nil {
		l.network, l.hostFP = true, nh.FP
		kind = kindNetwork
	}
	l.log = s.log.With(zap.Uint64("conn", l.id), zap.String("dir", dirOut), zap.String("kind", kind),
		zap.String("local", l.local), zap.String("remote", l.remote))
	return l
}

func (l *outLink) kind() string {
	if l.network {
		return kindNetwork
	}
	return kindFederation
}

// sendOut queues a stanza on the link for key, creating the link if
// there is none. nh is the remote host for a link inside the network.
func (s *Server) sendOut(key pairKey, nh *networkHost, raw []byte) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.bounceRaw(raw, stanza.Errorf(stanza.ServiceUnavailable, "the server is stopping"))
		return
	}
	if f := s.recentFailureLocked(key); f != nil {
		s.mu.Unlock()
		s.bounceRaw(raw, &stanza.Error{Condition: f.cond, Text: f.text})
		return
	}
	l := s.linkLocked(key, nh, false)
	err := l.enqueue(raw)
	s.mu.Unlock()
	if err != nil {
		s.bounceRaw(raw, stanza.Errorf(stanza.ResourceConstraint, "too many stanzas waiting for %s", key.remote))
	}
}

// recentFailureLocked returns the failure of the pair's last attempt
// while stanzas are to be bounced for it. s.mu is held.
func (s *Server) recentFailureLocked(key pairKey) *setupFailure {
	if s.links[key] != nil {
		return nil
	}
	f := s.failures[key]
	if f == nil || time.Now().After(f.until) {
		return nil
	}
	return f
}

// linkLocked returns the link for key, starting one if needed. s.mu is held.
func (s *Server) linkLocked(key pairKey, nh *networkHost, retry bool) *outLink {
	if l := s.links[key]; l != nil {
		return l
	}
	l := s.newLink(key, nh, retry)
	s.links[key] = l
	s.wg.Add(1)
	s.m.opened.WithLabelValues(dirOut).Inc()
	go func() {
		defer s.wg.Done()
		l.run()
	}()
	return l
}

// verifyDialback asks the authoritative server of remote whether key is
// the one it gave for the stream id it opened to local (XEP-0220 §2.1.2),
// over the outbound link for that pair, and calls done with the answer.
func (s *Server) verifyDialback(local, remote, id, key string, done verifyWaiter) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		done(false, stanza.RemoteServerTimeout)
		return
	}
	if f := s.recentFailureLocked(pairKey{local: local, remote: remote}); f != nil {
		s.mu.Unlock()
		done(false, f.cond)
		return
	}
	l := s.linkLocked(pairKey{local: local, remote: remote}, nil, false)
	replaced, ok := l.addVerify(appendDialback(nil, true, local, remote, id, "", key), id, done)
	s.mu.Unlock()
	if replaced != nil {
		replaced(false, stanza.Conflict)
	}
	if !ok {
		done(false, stanza.ResourceConstraint)
	}
}

// enqueue adds a stanza to the link's queue. The caller holds s.mu.
func (l *outLink) enqueue(raw []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pendingBytes+len(raw) > l.srv.opts.QueueBytes {
		return errQueueFull
	}
	l.pending = append(l.pending, bytes.Clone(raw))
	l.pendingBytes += len(raw)
	l.poke()
	return nil
}

// addVerify queues a dialback verification. The caller holds s.mu, and
// calls the waiter it returns, which the new one replaced (the same
// stream asked again), once it has released it.
func (l *outLink) addVerify(req []byte, id string, done verifyWaiter) (replaced verifyWaiter, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	replaced = l.verifies[id]
	if replaced == nil && len(l.verifies) >= maxVerifies {
		return nil, false
	}
	l.verifies[id] = done
	l.ctrl = append(l.ctrl, req)
	l.poke()
	return replaced, true
}

func (l *outLink) poke() {
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (l *outLink) setState(st linkState) {
	l.mu.Lock()
	l.state = st
	l.mu.Unlock()
	l.poke()
}

// setupError is a failure to set up a link, with the stanza error that
// the stanzas waiting for it are bounced with.
type setupError struct {
	cond stanza.Condition
	err  error
}

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

func notFound(format string, args ...any) *setupError {
	return &setupError{cond: stanza.RemoteServerNotFound, err: fmt.Errorf(format, args...)}
}

// classify turns an I/O error during setup into a setupError: a timeout
// is remote-server-timeout, anything else remote-server-not-found.
func classify(what string, err error) *setupError {
	var se *setupError
	if errors.As(err, &se) {
		return se
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &setupError{cond: stanza.RemoteServerTimeout, err: fmt.Errorf("%s: %w", what, err)}
	}
	return &setupError{cond: stanza.RemoteServerNotFound, err: fmt.Errorf("%s: %w", what, err)}
}

// run sets the link up and then reads from it until it ends.
func (l *outLink) run() {
	s := l.srv
	deadline := time.Now().Add(s.opts.ConnectTimeout)
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	go func() {
		// Setup stops with the link.
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	r, err := l.connect(ctx, deadline)
	cancel()
	if err != nil {
		se := classify("connect", err)
		l.fail(se.cond, se.err.Error(), "setup-failed")
		return
	}
	s.m.connections.WithLabelValues(dirOut, l.kind()).Inc()
	defer s.m.connections.WithLabelValues(dirOut, l.kind()).Dec()
	go l.writer()
	defer func() { <-l.writerEnd }()
	l.setState(linkAuthenticating)
	l.readLoop(r, deadline)
}

// connect resolves the remote domain, connects, and negotiates TLS and
// stream features. It returns the reader positioned after the features.
func (l *outLink) connect(ctx context.Context, deadline time.Time) (*outReader, error) {
	s := l.srv
	var nh *networkHost
	if l.network {
		if s.opts.HostIdentity == nil {
			return nil, notFound("this host has no server key configured (-server-key): it cannot reach host %s", l.remote)
		}
		h, ok := s.dir.host(l.remote)
		if !ok {
			return nil, notFound("%s is no longer a host of the network", l.remote)
		}
		nh = &h
	}
	targets, err := s.targets(ctx, l.remote, nh)
	if err != nil {
		return nil, classify("resolve "+l.remote, err)
	}
	var conn net.Conn
	var tgt target
	var lastErr error
	for _, t := range targets {
		d := net.Dialer{Deadline: deadline, Resolver: s.opts.HostResolver}
		conn, lastErr = d.DialContext(ctx, "tcp", t.addr)
		if lastErr == nil {
			tgt = t
			break
		}
		l.log.Debug("connect failed", zap.String("addr", t.addr), zap.Error(lastErr))
	}
	if conn == nil {
		return nil, classify("connect to "+l.remote, lastErr)
	}
	l.mu.Lock()
	l.conn, l.raw, l.addr = conn, conn, tgt.addr
	closed := l.state == linkClosed
	l.mu.Unlock()
	if closed {
		conn.Close()
		return nil, notFound("link closed while connecting")
	}
	conn.SetDeadline(deadline)
	l.log.Debug("connected", zap.String("addr", tgt.addr), zap.Bool("direct_tls", tgt.directTLS))
	if tgt.directTLS {
		if err := l.startTLS(ctx, conn, true); err != nil {
			return nil, err
		}
	}
	r := &outReader{r: xml.NewReader(l.currentConn(), outLimits)}
	if err := l.negotiate(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (l *outLink) currentConn() net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn
}

// startTLS runs the TLS handshake on raw and makes it the transport.
func (l *outLink) startTLS(ctx context.Context, raw net.Conn, direct bool) error {
	tc := tls.Client(raw, l.clientTLSConfig(direct))
	if err := tc.HandshakeContext(ctx); err != nil {
		return classify("TLS with "+l.remote, err)
	}
	l.mu.Lock()
	l.conn, l.tls = tc, true
	l.mu.Unlock()
	return nil
}

// outReader is the reader of a link, with what negotiation learned.
type outReader struct {
	r        *xml.Reader
	streamID string
	version  bool // the peer speaks RFC 6120 streams (sent version 1.0)
	feats    features
}

// write writes raw to the link's transport under the write lock.
func (l *outLink) write(raw []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	c := l.currentConn()
	c.SetWriteDeadline(time.Now().Add(l.srv.opts.WriteTimeout))
	_, err := c.Write(raw)
	return err
}

func (l *outLink) header() []byte {
	return stream.AppendOpen(nil, stream.Open{NS: stream.NSServer, From: l.local, To: l.remote, Version: "1.0",
		Prefixes: []xml.Binding{{Prefix: "db", URI: stream.NSDialback}}})
}

// openStream sends the stream header and reads the peer's, and its
// features when it speaks RFC 6120 streams.
func (l *outLink) openStream(r *outReader) error {
	if err := l.write(l.header()); err != nil {
		return classify("write stream header", err)
	}
	return l.readHeader(r)
}

// readHeader reads the peer's stream header and features.
func (l *outLink) readHeader(r *outReader) error {
	top, err := r.r.Next()
	if err != nil {
		return classify("read stream header", err)
	}
	if top.Kind != xml.KindOpen {
		return notFound("%s did not open a stream", l.remote)
	}
	h := r.r.Header()
	if h.Name != "stream:stream" || h.Scope.Default != stream.NSServer {
		return notFound("%s answered with a stream that is not a server stream", l.remote)
	}
	r.streamID = h.Get("id")
	r.version = h.Get("version") == "1.0"
	r.feats = features{}
	if !r.version {
		return nil
	}
	top, err = r.r.Next()
	if err != nil {
		return classify("read stream features", err)
	}
	if top.Is("stream:error") {
		return notFound("%s refused the stream: %v", l.remote, parseStreamError(top, &h.Scope))
	}
	if string(top.Local()) != "features" || topNS(top, &h.Scope) != xml.NSStream {
		return notFound("%s sent <%s/> instead of stream features", l.remote, top.Name())
	}
	r.feats, err = parseFeatures(top, &h.Scope)
	if err != nil {
		return notFound("unreadable stream features from %s: %v", l.remote, err)
	}
	return nil
}

// negotiate opens the stream and upgrades it to TLS when offered. TLS is
// required for links inside the network and, unless plaintext is
// allowed, for federated ones.
func (l *outLink) negotiate(ctx context.Context, r *outReader) error {
	if err := l.openStream(r); err != nil {
		return err
	}
	l.mu.Lock()
	secured := l.tls
	l.mu.Unlock()
	if !secured && r.feats.starttls {
		if err := l.write([]byte("<starttls xmlns='" + NSTLS + "'/>")); err != nil {
			return classify("write starttls", err)
		}
		top, err := r.r.Next()
		if err != nil {
			return classify("read starttls answer", err)
		}
		if !top.Is("proceed") {
			return notFound("%s refused STARTTLS", l.remote)
		}
		if r.r.Buffered() != 0 {
			return notFound("%s sent data before the TLS handshake", l.remote)
		}
		l.mu.Lock()
		raw := l.raw
		l.mu.Unlock()
		if err := l.startTLS(ctx, raw, false); err != nil {
			return err
		}
		r.r.Reset(l.currentConn())
		if err := l.openStream(r); err != nil {
			return err
		}
		secured = true
	}
	if !secured && (l.network || !l.srv.opts.AllowPlaintext) {
		return notFound("%s offers no TLS, which is required", l.remote)
	}
	return nil
}

// readLoop authenticates the link, then reads until it ends: the peer
// sends only dialback answers (and requests) on it.
func (l *outLink) readLoop(r *outReader, deadline time.Time) {
	s := l.srv
	conn := l.currentConn()
	conn.SetReadDeadline(deadline)
	method, err := l.startAuth(r)
	if err != nil {
		l.fail(stanza.RemoteServerNotFound, err.Error(), "auth-failed")
		return
	}
	awaitingResult := method == methodDialback
	awaitingSASL := method == methodExternal || method == methodKey
	restarting := false
	peerMax := 0
	for {
		top, err := r.r.Next()
		if err != nil {
			l.readFailed(err)
			return
		}
		if restarting {
			// After SASL success: the peer's new header and features.
			if top.Kind != xml.KindOpen {
				l.fail(stanza.RemoteServerNotFound, "no stream header after SASL success", "protocol-error")
				return
			}
			h := r.r.Header()
			if h.Get("version") == "1.0" {
				if top, err = r.r.Next(); err != nil || string(top.Local()) != "features" {
					l.fail(stanza.RemoteServerNotFound, "no stream features after SASL success", "protocol-error")
					return
				}
				// Limits announced before authentication were those of
				// an unauthenticated peer: only these apply now.
				if f, err := parseFeatures(top, &h.Scope); err == nil {
					peerMax = f.maxBytes
				}
			}
			restarting = false
			l.established(method, peerMax)
			continue
		}
		if top.Kind == xml.KindClose {
			l.closedByPeer()
			return
		}
		scope := &r.r.Header().Scope
		if top.Is("stream:error") {
			e := parseStreamError(top, scope)
			l.fail(stanza.RemoteServerNotFound, fmt.Sprintf("%s sent a stream error: %v", l.remote, e), "peer-error")
			return
		}
		switch ns := topNS(top, scope); {
		case ns == NSSASL && awaitingSASL:
			switch string(top.Local()) {
			case "success":
				awaitingSASL, restarting = false, true
				r.r.Restart()
				if err := l.write(l.header()); err != nil {
					l.fail(stanza.RemoteServerNotFound, "write stream header: "+err.Error(), "write-error")
					return
				}
				continue
			case "failure":
				s.m.auth.WithLabelValues(dirOut, method, "failure").Inc()
				if l.network || !r.feats.dialback && r.version {
					l.fail(stanza.RemoteServerNotFound, fmt.Sprintf("%s refused SASL EXTERNAL", l.remote), "auth-failed")
					return
				}
				// XEP-0178 §3: fall back to dialback.
				awaitingSASL, awaitingResult, method = false, true, methodDialback
				if err := l.sendDialbackResult(r); err != nil {
					l.fail(stanza.RemoteServerNotFound, err.Error(), "write-error")
					return
				}
				continue
			}
		case ns == stream.NSDialback:
			d, err := parseDialback(top, scope)
			if err != nil {
				l.protocolError(dialbackStreamError(top, err))
				return
			}
			if !l.dialback(d, &awaitingResult, method) {
				return
			}
			continue
		}
		l.protocolError(stream.Errorf(stream.UnsupportedStanzaType, "<%s/> is not expected on this stream (no bidirectional streams)", top.Name()))
		return
	}
}

// startAuth starts authentication after negotiation and returns the
// method used: the host key for links inside the network, else SASL
// EXTERNAL when offered and a certificate was presented, else dialback.
func (l *outLink) startAuth(r *outReader) (string, error) {
	s := l.srv
	switch {
	case l.network:
		if !r.feats.external {
			return "", fmt.Errorf("host %s does not offer SASL EXTERNAL for this host's key", l.remote)
		}
		return methodKey, l.write(appendAuthExternal(nil, l.local))
	case r.feats.external && s.opts.FederationCert != nil:
		return methodExternal, l.write(appendAuthExternal(nil, l.local))
	case r.feats.dialback || !r.version:
		return methodDialback, l.sendDialbackResult(r)
	}
	return "", fmt.Errorf("%s offers no authentication method this server supports", l.remote)
}

func (l *outLink) sendDialbackResult(r *outReader) error {
	if r.streamID == "" {
		return fmt.Errorf("%s gave no stream id, dialback is impossible", l.remote)
	}
	key := l.srv.keys.generate(l.remote, l.local, r.streamID)
	return l.write(appendDialback(nil, false, l.local, l.remote, "", "", key))
}

// dialback handles a dialback element on the link. It reports false when
// the link ended.
func (l *outLink) dialback(d *dialback, awaitingResult *bool, method string) bool {
	s := l.srv
	switch {
	case d.verify && d.isRequest():
		// A receiving server checking a key over our stream: answer
		// like on an inbound stream.
		valid := s.public(d.to) && s.keys.verify(d.from, d.to, d.id, d.key)
		s.countVerify(valid)
		if err := l.write(appendDialback(nil, true, d.to, d.from, d.id, validity(valid), "")); err != nil {
			l.fail(stanza.RemoteServerNotFound, err.Error(), "write-error")
			return false
		}
		return true
	case d.verify:
		l.mu.Lock()
		w, ok := l.verifies[d.id]
		if ok && d.from == l.remote && d.to == l.local {
			delete(l.verifies, d.id)
		} else {
			ok = false
		}
		l.mu.Unlock()
		if !ok {
			l.protocolError(stream.Errorf(stream.NotAuthorized, "unsolicited dialback verification answer for stream %q", d.id))
			return false
		}
		w(d.typ == "valid", stanza.Condition(d.errCond))
		return true
	case d.isRequest():
		l.protocolError(stream.Errorf(stream.NotAuthorized, "dialback requests belong on the stream you open"))
		return false
	}
	// An answer to our db:result: only for the pair we asked about.
	if !*awaitingResult || d.from != l.remote || d.to != l.local {
		l.protocolError(stream.Errorf(stream.NotAuthorized, "unsolicited dialback result for %s to %s", d.from, d.to))
		return false
	}
	*awaitingResult = false
	if d.typ != "valid" {
		s.m.auth.WithLabelValues(dirOut, method, "failure").Inc()
		l.fail(stanza.RemoteServerNotFound, fmt.Sprintf("%s refused our dialback key (%s %s)", l.remote, d.typ, d.errCond), "auth-failed")
		return false
	}
	// Dialback has no stream restart, so no limits for the authenticated
	// stream are announced.
	l.established(method, 0)
	return true
}

func validity(valid bool) string {
	if valid {
		return "valid"
	}
	return "invalid"
}

// established marks the link authenticated: queued stanzas flow.
func (l *outLink) established(method string, peerMax int) {
	l.srv.m.auth.WithLabelValues(dirOut, method, "success").Inc()
	l.mu.Lock()
	l.method = method
	l.peerMax = peerMax
	l.state = linkEstablished
	l.wasUp = true
	conn := l.conn
	l.mu.Unlock()
	l.srv.mu.Lock()
	delete(l.srv.failures, pairKey{l.local, l.remote})
	l.srv.mu.Unlock()
	conn.SetReadDeadline(time.Time{})
	l.log.Info("outbound link established", zap.String("method", method), zap.String("addr", l.addr),
		zap.Bool("peer_cert_valid", l.peerCertValid.Load()))
	l.poke()
}

// protocolError ends the link with a stream error for a peer that broke
// the protocol.
func (l *outLink) protocolError(e *stream.Error) {
	l.log.Warn("peer protocol error", zap.String("condition", string(e.Condition)), zap.String("text", e.Text))
	l.write(append(e.AppendXML(nil), stream.Close...))
	l.fail(stanza.RemoteServerNotFound, e.Error(), string(e.Condition))
}

// readFailed ends the link after a read error.
func (l *outLink) readFailed(err error) {
	if e := stream.FromReadError(err); e != nil {
		l.protocolError(e)
		return
	}
	l.mu.Lock()
	st := l.state
	l.mu.Unlock()
	if st == linkClosed {
		l.fail(stanza.RemoteServerNotFound, "", "closed") // closed by us: record it
		return
	}
	se := classify("read", err)
	l.fail(se.cond, se.err.Error(), "lost")
}

// closedByPeer handles the peer's end of stream: we close ours.
func (l *outLink) closedByPeer() {
	l.mu.Lock()
	closing := l.state == linkClosed
	l.mu.Unlock()
	if !closing {
		l.write([]byte(stream.Close))
	}
	l.fail(stanza.RemoteServerNotFound, l.remote+" closed the stream", "closed")
}

// writer writes dialback requests and, once established, stanzas, in
// batches, until the link ends. It closes an idle link.
func (l *outLink) writer() {
	defer close(l.writerEnd)
	s := l.srv
	idle := time.NewTimer(s.opts.IdleTimeout)
	defer idle.Stop()
	var batch net.Buffers
	for {
		select {
		case <-l.signal:
		case <-l.stop:
			return
		case <-idle.C:
			if l.closeIfIdle() {
				return
			}
			idle.Reset(s.opts.IdleTimeout)
			continue
		}
		l.mu.Lock()
		if l.state == linkClosed {
			l.mu.Unlock()
			return
		}
		batch = append(batch[:0], l.ctrl...)
		l.ctrl = l.ctrl[:0]
		var stanzas, tooLarge [][]byte
		if l.state == linkEstablished && len(l.pending) > 0 {
			stanzas = l.pending
			l.pending = nil
			l.pendingBytes = 0
			if l.peerMax > 0 {
				// The peer said it would close the stream on these.
				stanzas, tooLarge = splitBySize(stanzas, l.peerMax)
			}
			batch = append(batch, stanzas...)
		}
		drained := l.draining && l.state == linkEstablished
		peerMax := l.peerMax
		l.mu.Unlock()
		for _, p := range tooLarge {
			s.bounceRaw(p, stanza.Errorf(stanza.PolicyViolation, "%s accepts stanzas of up to %d bytes", l.remote, peerMax))
		}
		if drained {
			batch = append(batch, []byte(stream.Close))
		}
		if len(batch) == 0 {
			continue
		}
		l.wmu.Lock()
		c := l.currentConn()
		c.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		_, err := batch.WriteTo(c)
		l.wmu.Unlock()
		if err != nil {
			l.mu.Lock()
			// What the failed write carried is sent again by the next
			// link: it may or may not have arrived (at least once).
			l.pending = append(stanzas, l.pending...)
			for _, p := range stanzas {
				l.pendingBytes += len(p)
			}
			l.mu.Unlock()
			l.fail(stanza.RemoteServerTimeout, "write: "+err.Error(), "write-error")
			return
		}
		if len(stanzas) > 0 {
			l.out.Add(uint64(len(stanzas)))
			s.m.stanzasOut.WithLabelValues(l.kind()).Add(float64(len(stanzas)))
			idle.Reset(s.opts.IdleTimeout)
		}
		if drained {
			l.fail(stanza.RemoteServerTimeout, "the server is stopping", "shutdown")
			return
		}
	}
}

// splitBySize separates the stanzas larger than max.
func splitBySize(stanzas [][]byte, max int) (fit, tooLarge [][]byte) {
	fit = stanzas[:0]
	for _, p := range stanzas {
		if len(p) > max {
			tooLarge = append(tooLarge, p)
		} else {
			fit = append(fit, p)
		}
	}
	return fit, tooLarge
}

// closeIfIdle closes the link when nothing waits on it; it reports
// whether it did.
func (l *outLink) closeIfIdle() bool {
	s := l.srv
	s.mu.Lock()
	l.mu.Lock()
	if len(l.pending) > 0 || len(l.verifies) > 0 || l.state != linkEstablished {
		l.mu.Unlock()
		s.mu.Unlock()
		return false
	}
	if s.links[pairKey{l.local, l.remote}] == l {
		delete(s.links, pairKey{l.local, l.remote})
	}
	l.state = linkClosed
	l.reason = "idle"
	l.mu.Unlock()
	s.mu.Unlock()
	l.log.Info("closing idle outbound link")
	l.write([]byte(stream.Close))
	// The reader sees the peer's end of stream, or the deadline.
	l.currentConn().SetReadDeadline(time.Now().Add(time.Second))
	return true
}

// shutdown closes the link for a stopping server: an established link
// writes what is queued and ends its stream; others end now.
func (l *outLink) shutdown() {
	l.mu.Lock()
	st := l.state
	l.draining = true
	l.mu.Unlock()
	if st != linkEstablished {
		l.fail(stanza.RemoteServerTimeout, "the server is stopping", "shutdown")
		return
	}
	l.poke()
}

// abort closes the connection at once (shutdown timeout).
func (l *outLink) abort() {
	l.mu.Lock()
	c := l.raw
	l.mu.Unlock()
	if c != nil {
		c.Close()
	}
	l.stopOnce.Do(func() { close(l.stop) })
}

// fail ends the link. Stanzas still queued are handed to a new link when
// an established one broke (once), bounced with cond otherwise; pending
// verifications are answered as failed. Only the first call counts; the
// first reason given (or "idle", set by closeIfIdle) is recorded.
func (l *outLink) fail(cond stanza.Condition, text, reason string) {
	s := l.srv
	key := pairKey{l.local, l.remote}
	s.mu.Lock()
	if s.links[key] == l {
		delete(s.links, key)
	}
	l.mu.Lock()
	if l.finished {
		l.mu.Unlock()
		s.mu.Unlock()
		return
	}
	l.finished = true
	if l.reason == "" {
		l.reason = reason
	}
	reason = l.reason
	wasEstablished := l.state == linkEstablished
	l.state = linkClosed
	pending := l.pending
	l.pending, l.pendingBytes = nil, 0
	verifies := l.verifies
	l.verifies = map[string]verifyWaiter{}
	raw := l.raw
	wasUp := l.wasUp
	l.mu.Unlock()
	if !wasUp && !s.closing {
		f := s.failures[key]
		if f == nil {
			f = &setupFailure{delay: retryFirst}
			s.failures[key] = f
		} else {
			limit := retryMaxFederation
			if l.network {
				limit = retryMaxNetwork
			}
			f.delay = min(2*f.delay, limit)
		}
		f.until, f.cond, f.text = time.Now().Add(f.delay), cond, text
	}
	requeued := false
	if wasEstablished && !l.retry && len(pending) > 0 && !s.closing {
		var nh *networkHost
		if h, ok := s.dir.host(l.remote); ok && l.network {
			nh = &h
		}
		if !l.network || nh != nil {
			next := s.linkLocked(key, nh, true)
			next.mu.Lock()
			next.pending = append(next.pending, pending...)
			for _, p := range pending {
				next.pendingBytes += len(p)
			}
			next.poke()
			next.mu.Unlock()
			requeued = true
		}
	}
	s.mu.Unlock()

	l.stopOnce.Do(func() { close(l.stop) })
	if raw != nil {
		raw.Close()
	}
	for _, w := range verifies {
		w(false, stanza.RemoteServerNotFound)
	}
	if !requeued {
		for _, p := range pending {
			s.bounceRaw(p, &stanza.Error{Condition: cond, Text: text})
		}
	}
	s.m.closed.WithLabelValues(dirOut, reason).Inc()
	if reason == "idle" {
		l.log.Debug("outbound link closed", zap.String("reason", reason))
	} else {
		l.log.Info("outbound link ended", zap.String("reason", reason), zap.String("error", text),
			zap.Int("queued", len(pending)), zap.Bool("requeued", requeued))
	}
	s.recordClose(ClosedStream{ID: l.id, Direction: dirOut, Kind: l.kind(), Local: l.local, Remote: l.remote,
		Reason: reason, Error: text, Stanzas: l.out.Load(), Started: l.started, Closed: time.Now()})
}

// parseStreamError reads a received <stream:error/>.
func parseStreamError(top *xml.Top, scope *xml.Scope) *stream.Error {
	el, err := xml.Parse(top.Raw, *scope)
	if err != nil {
		return &stream.Error{Condition: stream.UndefinedCondition, Text: "unreadable stream error"}
	}
	return stream.ParseError(el)
}

// countVerify counts a dialback key checked for another server.
func (s *Server) countVerify(valid bool) {
	s.m.verifies.WithLabelValues(validity(valid)).Inc()
}
