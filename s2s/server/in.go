package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// maxDomainsPerStream bounds the domains one inbound stream may
// authenticate with dialback (XEP-0220 §2.4 allows several).
const maxDomainsPerStream = 16

// inStream is one inbound stream from a peer server. Its goroutine
// (serve) negotiates TLS and authentication and forwards the peer's
// stanzas to the router; dialback answers arrive on outbound links'
// goroutines and are written from there.
type inStream struct {
	srv     *Server
	id      uint64
	log     *zap.Logger
	started time.Time
	raw     net.Conn // the TCP connection
	rr      *rateReader
	r       *xml.Reader

	ctx       context.Context // ends when the stream closes: router sends give up
	cancel    context.CancelFunc
	closing   chan struct{} // closed when the stream starts closing
	closeOnce sync.Once
	authed    atomic.Bool // some domain is authenticated: limits are lifted
	in        atomic.Uint64

	// Written by serve before the stream is shared, read-only after the
	// first header.
	preAuthDeadline time.Time

	wmu        sync.Mutex // serializes writes; guards conn, headerSent, closed
	conn       net.Conn   // current transport (TLS or TCP)
	headerSent bool
	closed     bool

	mu              sync.Mutex // negotiation state, shared with dialback answers
	to, from        string     // the stream header's, canonical
	network         bool       // a host of the network (a stream to this host's name)
	host            networkHost
	tls             bool
	certs           []*x509.Certificate
	streamID        string
	externalOffered bool
	saslDone        bool
	domains         map[string]string // authenticated domain → method
	dbPending       map[string]bool   // dialback verifications under way
	reason          string
}

func newInStream(s *Server, nc net.Conn, id uint64) *inStream {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &inStream{
		srv:       s,
		id:        id,
		raw:       nc,
		conn:      nc,
		started:   time.Now(),
		ctx:       ctx,
		cancel:    cancel,
		closing:   make(chan struct{}),
		domains:   map[string]string{},
		dbPending: map[string]bool{},
		log:       s.log.With(zap.Uint64("conn", id), zap.String("dir", dirIn), zap.String("remote", nc.RemoteAddr().String())),
	}
	return c
}

// serve runs the stream until it ends.
func (c *inStream) serve() {
	defer c.finish()
	s := c.srv
	c.preAuthDeadline = time.Now().Add(s.opts.HandshakeTimeout)
	c.raw.SetDeadline(c.preAuthDeadline)
	c.rr = newRateReader(c.raw, s.opts.Rate, s.opts.RateBurst, c.closing, func(d time.Duration) {
		s.m.throttled.Add(d.Seconds())
	})
	c.rr.budget, c.rr.authed = s.opts.PreAuthBytes, &c.authed
	c.r = xml.NewReader(c.rr, xml.Limits{MaxElementBytes: s.opts.MaxStanza})
	var sc scratch
	for {
		if !c.setReadDeadline() {
			return
		}
		top, err := c.r.Next()
		if c.isClosed() {
			return
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		switch top.Kind {
		case xml.KindOpen:
			if !c.header() {
				return
			}
		case xml.KindClose:
			c.close("closed", nil)
			return
		default:
			if !c.authed.Load() && len(top.Raw) > s.opts.PreAuthStanza {
				c.fail(stream.PolicyViolation, "elements before authentication are limited to "+strconv.Itoa(s.opts.PreAuthStanza)+" bytes")
				return
			}
			if !c.element(top, &sc) {
				return
			}
		}
	}
}

// setReadDeadline bounds the next read: the pre-authentication deadline,
// then the idle timeout. It reports false once the stream is closing
// (close sets its own, short, deadline).
func (c *inStream) setReadDeadline() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return false
	}
	if c.authed.Load() {
		c.raw.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
	} else {
		c.raw.SetReadDeadline(c.preAuthDeadline)
	}
	return true
}

// readFailed ends the stream after a read error: a stream error for bad
// input, a timeout before authentication, a quiet close when idle.
func (c *inStream) readFailed(err error) {
	if e := stream.FromReadError(err); e != nil {
		c.fail(e.Condition, e.Text)
		return
	}
	if errors.Is(err, errPreAuthBudget) {
		c.fail(stream.PolicyViolation, "too much data before authentication")
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c.authed.Load() {
			c.close("idle", nil)
		} else {
			c.fail(stream.ConnectionTimeout, "not authenticated within "+c.srv.opts.HandshakeTimeout.String())
		}
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		c.log.Debug("read failed", zap.Error(err))
	}
	c.close("lost", nil)
}

// header answers a stream header: the first one, or the one the peer
// sends again after TLS or SASL.
func (c *inStream) header() bool {
	s := c.srv
	h := c.r.Header()
	if h.Name != "stream:stream" || !declares(h.Scope, "stream", xml.NSStream) || h.Scope.Default != stream.NSServer {
		c.fail(stream.InvalidNamespace, "expected a stream:stream header in "+stream.NSServer)
		return false
	}
	to, err := canonicalDomain(h.Get("to"))
	if err != nil {
		c.fail(stream.HostUnknown, "the stream header must name a domain served here in 'to'")
		return false
	}
	var from string
	if f := h.Get("from"); f != "" {
		if from, err = canonicalDomain(f); err != nil {
			c.fail(stream.InvalidFrom, "malformed 'from' in the stream header")
			return false
		}
	}
	c.mu.Lock()
	first := c.to == ""
	prevTo, prevFrom := c.to, c.from
	c.mu.Unlock()
	if !first && (to != prevTo || from != prevFrom && prevFrom != "") {
		c.fail(stream.InvalidFrom, "the stream was reopened with other addresses")
		return false
	}
	var host networkHost
	network := false
	if first {
		switch {
		case to == s.opts.Host:
			if !c.waitDirectory() {
				c.fail(stream.InternalServerError, "the network directory is not available")
				return false
			}
			h, ok := s.dir.host(from)
			if !ok || s.opts.HostIdentity == nil {
				c.fail(stream.HostUnknown, s.opts.Host+" accepts streams from the hosts of its network only; federated servers address "+s.opts.Network)
				return false
			}
			host, network = h, true
		case !s.public(to):
			c.fail(stream.HostUnknown, to+" is not served here")
			return false
		case from != "" && (s.local(from) || s.internal(from)):
			c.fail(stream.InvalidFrom, from+" is a name of this network")
			return false
		}
	}
	version := h.Get("version") == "1.0"
	id := newStreamID()
	c.mu.Lock()
	if first {
		c.to, c.network, c.host = to, network, host
		kind := kindFederation
		if network {
			kind = kindNetwork
		}
		c.log = c.log.With(zap.String("kind", kind), zap.String("local", to), zap.String("peer", from))
		s.m.connections.WithLabelValues(dirIn, kind).Inc()
	}
	if from != "" {
		c.from = from
	}
	c.streamID = id
	tlsDone, saslDone, certs := c.tls, c.saslDone, c.certs
	network, host = c.network, c.host
	c.mu.Unlock()

	buf := stream.AppendOpen(nil, stream.Open{NS: stream.NSServer, From: to, To: from, ID: id, Version: versionAttr(version),
		Prefixes: []xml.Binding{{Prefix: "db", URI: stream.NSDialback}}})
	tlsRequired := network || !s.opts.AllowPlaintext
	if !version {
		// A pre-RFC 6120 peer gets no features: it can only do dialback
		// in the clear.
		if tlsRequired {
			c.writeHeader(buf)
			c.fail(stream.UnsupportedVersion, "TLS is required here, which needs version='1.0' streams")
			return false
		}
		return c.writeHeader(buf)
	}
	buf = append(buf, "<stream:features>"...)
	// XEP-0478: what this stream accepts, before and after authentication.
	if saslDone {
		buf = appendLimits(buf, s.opts.MaxStanza, s.opts.IdleTimeout)
	} else {
		buf = appendLimits(buf, s.opts.PreAuthStanza, s.opts.HandshakeTimeout)
	}
	switch {
	case saslDone:
		// Authenticated: nothing left to negotiate.
	case !tlsDone:
		if s.serverTLSConfig(to) != nil {
			buf = append(buf, "<starttls xmlns='"+NSTLS+"'>"...)
			if tlsRequired {
				buf = append(buf, "<required/>"...)
			}
			buf = append(buf, "</starttls>"...)
		}
		if !tlsRequired {
			buf = append(buf, "<dialback xmlns='"+NSDialbackFeature+"'><errors/></dialback>"...)
		}
	case network:
		if err := verifyHostCert(certs, host.FP); err != nil {
			c.writeHeader(buf[:bytes.Index(buf, []byte("<stream:features>"))])
			c.log.Warn("network host refused", zap.Error(err))
			c.fail(stream.NotAuthorized, "host "+from+" must present the certificate of its server key "+host.FP)
			return false
		}
		c.mu.Lock()
		c.externalOffered = true
		c.mu.Unlock()
		buf = append(buf, "<mechanisms xmlns='"+NSSASL+"'><mechanism>EXTERNAL</mechanism></mechanisms>"...)
	default:
		if from != "" && verifyPeerCert(certs, from, s.opts.Roots, time.Now()) == nil {
			c.mu.Lock()
			c.externalOffered = true
			c.mu.Unlock()
			buf = append(buf, "<mechanisms xmlns='"+NSSASL+"'><mechanism>EXTERNAL</mechanism></mechanisms>"...)
		}
		buf = append(buf, "<dialback xmlns='"+NSDialbackFeature+"'><errors/></dialback>"...)
	}
	buf = append(buf, "</stream:features>"...)
	return c.writeHeader(buf)
}

// waitDirectory waits until the network directory was read once (just
// after a start), within the stream's pre-authentication time.
func (c *inStream) waitDirectory() bool {
	d := c.srv.dir
	if d == nil {
		return true
	}
	t := time.NewTimer(time.Until(c.preAuthDeadline))
	defer t.Stop()
	select {
	case <-d.loaded:
		return true
	case <-c.closing:
	case <-t.C:
	}
	return false
}

func versionAttr(v bool) string {
	if v {
		return "1.0"
	}
	return ""
}

// writeHeader writes our stream header (and what follows it).
func (c *inStream) writeHeader(buf []byte) bool {
	c.wmu.Lock()
	c.headerSent = true
	c.wmu.Unlock()
	if err := c.write(buf); err != nil {
		c.close("write-error", nil)
		return false
	}
	return true
}

// element handles a top-level element other than the stream's ends.
func (c *inStream) element(top *xml.Top, sc *scratch) bool {
	if isStanza(top) {
		return c.stanza(top, sc)
	}
	scope := &c.r.Header().Scope
	switch ns := topNS(top, scope); {
	case ns == NSTLS && string(top.Local()) == "starttls":
		return c.startTLS()
	case ns == NSSASL && string(top.Local()) == "auth":
		return c.auth(top)
	case ns == stream.NSDialback:
		d, err := parseDialback(top, scope)
		if err != nil {
			se := dialbackStreamError(top, err)
			c.fail(se.Condition, se.Text)
			return false
		}
		return c.dialback(d)
	case top.Is("stream:error"):
		c.log.Info("peer sent a stream error", zap.ByteString("error", top.Raw))
		c.close("peer-error", nil)
		return false
	}
	c.fail(stream.UnsupportedStanzaType, "<"+string(top.Name())+"/> is not understood here")
	return false
}

// stanza forwards an authenticated peer's stanza to the router.
func (c *inStream) stanza(top *xml.Top, sc *scratch) bool {
	if !c.authed.Load() {
		c.fail(stream.NotAuthorized, "authenticate before sending stanzas")
		return false
	}
	if e := c.checkInbound(top, sc); e != nil {
		c.fail(e.Condition, e.Text)
		return false
	}
	s := c.srv
	if top.StreamPrefix {
		// The bytes would mean something else on the router's stream.
		if stanza.Bounceable(top) {
			s.m.bounced.WithLabelValues(string(stanza.BadRequest)).Inc()
			b := stanza.AppendBounce(nil, top, stanza.Errorf(stanza.BadRequest, "the stanza uses a namespace prefix declared on the stream header"))
			if bt, err := xml.ParseTop(b, xml.Scope{Default: stream.NSServer}); err == nil {
				s.routeOut(bt)
			}
		}
		return true
	}
	if err := s.router.Send(c.ctx, top.Raw); err != nil {
		return false // closing
	}
	c.in.Add(1)
	s.m.stanzasIn.WithLabelValues(c.kind()).Inc()
	return true
}

func (c *inStream) kind() string {
	if c.isNetwork() {
		return kindNetwork
	}
	return kindFederation
}

func (c *inStream) isNetwork() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.network
}

// authedFor reports whether the stream is authenticated for domain.
func (c *inStream) authedFor(domain string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.domains[domain]
	return ok
}

// authedList names the authenticated domains, for error texts.
func (c *inStream) authedList() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.domains))
	for d := range c.domains {
		names = append(names, d)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// startTLS upgrades the stream to TLS (RFC 6120 §5).
func (c *inStream) startTLS() bool {
	c.mu.Lock()
	to, tlsDone := c.to, c.tls
	authStarted := len(c.domains) > 0 || len(c.dbPending) > 0
	c.mu.Unlock()
	cfg := c.srv.serverTLSConfig(to)
	switch {
	case to == "":
		c.fail(stream.NotAuthorized, "open a stream first")
		return false
	case tlsDone || authStarted:
		c.fail(stream.PolicyViolation, "STARTTLS is offered once, before authentication")
		return false
	case cfg == nil:
		c.write([]byte("<failure xmlns='" + NSTLS + "'/>"))
		c.close("tls-unavailable", nil)
		return false
	case c.r.Buffered() != 0:
		c.fail(stream.PolicyViolation, "data sent after <starttls/> before the TLS handshake")
		return false
	}
	if err := c.write([]byte("<proceed xmlns='" + NSTLS + "'/>")); err != nil {
		c.close("write-error", nil)
		return false
	}
	// The pre-authentication deadline on the socket bounds the handshake:
	// a peer that never finishes it is dropped then.
	tc := tls.Server(c.raw, cfg)
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Info("TLS handshake failed", zap.Error(err))
		c.wmu.Lock()
		c.closed = true // nothing can be written on a broken TLS stream
		c.wmu.Unlock()
		c.setReason("tls-failed")
		return false
	}
	c.wmu.Lock()
	c.conn = tc
	c.wmu.Unlock()
	c.rr.src = tc
	c.r.Reset(c.rr)
	cs := tc.ConnectionState()
	c.mu.Lock()
	c.tls, c.certs = true, cs.PeerCertificates
	c.mu.Unlock()
	c.log.Debug("TLS established", zap.Int("peer_certs", len(cs.PeerCertificates)))
	return true
}

// auth handles SASL EXTERNAL (XEP-0178): the peer's certificate was
// checked for the stream's 'from' before the mechanism was offered.
func (c *inStream) auth(top *xml.Top) bool {
	s := c.srv
	c.mu.Lock()
	offered, done, tlsDone, from, network := c.externalOffered, c.saslDone, c.tls, c.from, c.network
	c.mu.Unlock()
	method := methodExternal
	if network {
		method = methodKey
	}
	fail := func(cond, text string) bool {
		s.m.auth.WithLabelValues(dirIn, method, "failure").Inc()
		if err := c.write(appendSASLFailure(nil, cond, text)); err != nil {
			c.close("write-error", nil)
			return false
		}
		return true
	}
	switch {
	case done:
		c.fail(stream.PolicyViolation, "already authenticated")
		return false
	case !tlsDone:
		return fail(saslEncryptionRequired, "SASL EXTERNAL needs TLS")
	case !offered:
		return fail(saslNotAuthorized, "no certificate valid for the stream's 'from' was presented")
	}
	a, cond := parseAuth(top)
	if cond != "" {
		return fail(cond, "")
	}
	if a.authzid != "" {
		if canon, err := canonicalDomain(a.authzid); err != nil || canon != from {
			return fail(saslInvalidAuthzid, "the authorization identity must be "+from)
		}
	}
	c.mu.Lock()
	c.saslDone = true
	c.domains[from] = method
	c.mu.Unlock()
	if network {
		c.rr.rate = 0 // links inside the network are not limited
	}
	c.authed.Store(true)
	if err := c.write([]byte(saslSuccess)); err != nil {
		c.close("write-error", nil)
		return false
	}
	c.r.Restart()
	s.m.auth.WithLabelValues(dirIn, method, "success").Inc()
	c.log.Info("inbound stream authenticated", zap.String("method", method), zap.String("domain", from))
	return true
}

// dialback handles <db:result/> and <db:verify/> (XEP-0220).
func (c *inStream) dialback(d *dialback) bool {
	s := c.srv
	if d.verify {
		if !d.isRequest() {
			c.fail(stream.NotAuthorized, "unsolicited dialback verification answer")
			return false
		}
		// We are the authoritative server of d.to: was the key ours?
		valid := s.public(d.to) && s.keys.verify(d.from, d.to, d.id, d.key)
		s.countVerify(valid)
		if !valid {
			c.log.Warn("dialback key refused", zap.String("receiving", d.from), zap.String("originating", d.to))
		}
		if err := c.write(appendDialback(nil, true, d.to, d.from, d.id, validity(valid), "")); err != nil {
			c.close("write-error", nil)
			return false
		}
		return true
	}
	if !d.isRequest() {
		c.fail(stream.NotAuthorized, "unsolicited dialback result")
		return false
	}
	c.mu.Lock()
	network, tlsDone, certs, streamID := c.network, c.tls, c.certs, c.streamID
	_, already := c.domains[d.from]
	pending := c.dbPending[d.from]
	count := len(c.domains) + len(c.dbPending)
	c.mu.Unlock()
	answer := func(b []byte) bool {
		if err := c.write(b); err != nil {
			c.close("write-error", nil)
			return false
		}
		return true
	}
	switch {
	case network:
		c.fail(stream.NotAuthorized, "hosts of the network authenticate with their server key")
		return false
	case !tlsDone && !s.opts.AllowPlaintext:
		c.fail(stream.PolicyViolation, "STARTTLS is required before authentication")
		return false
	case !s.public(d.to):
		return answer(appendDialbackError(nil, d.to, d.from, "item-not-found", d.to+" is not served here"))
	case s.local(d.from) || s.internal(d.from):
		c.log.Warn("dialback for a name of this network refused", zap.String("domain", d.from))
		return answer(appendDialbackError(nil, d.to, d.from, "not-authorized", d.from+" is a name of this network"))
	case already:
		return answer(appendDialback(nil, false, d.to, d.from, "", "valid", ""))
	case pending:
		return true // the answer to the first request will come
	case count >= maxDomainsPerStream:
		return answer(appendDialbackError(nil, d.to, d.from, "resource-constraint", "too many domains on one stream"))
	}
	c.mu.Lock()
	c.dbPending[d.from] = true
	c.mu.Unlock()
	if tlsDone && verifyPeerCert(certs, d.from, s.opts.Roots, time.Now()) == nil {
		// The certificate already proves the domain (XEP-0344 §2.4).
		c.dialbackDone(d.from, d.to, true, "")
		return !c.isClosed()
	}
	s.verifyDialback(d.to, d.from, streamID, d.key, func(valid bool, cond stanza.Condition) {
		c.dialbackDone(d.from, d.to, valid, cond)
	})
	return !c.isClosed()
}

// dialbackDone answers a dialback request once the authoritative server
// answered (or could not be asked: cond).
func (c *inStream) dialbackDone(from, to string, valid bool, cond stanza.Condition) {
	s := c.srv
	c.mu.Lock()
	delete(c.dbPending, from)
	if valid {
		c.domains[from] = methodDialback
	}
	c.mu.Unlock()
	var b []byte
	switch {
	case valid:
		c.authed.Store(true)
		c.raw.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		b = appendDialback(nil, false, to, from, "", "valid", "")
		s.m.auth.WithLabelValues(dirIn, methodDialback, "success").Inc()
		c.log.Info("inbound stream authenticated", zap.String("method", methodDialback), zap.String("domain", from))
	case cond != "":
		b = appendDialbackError(nil, to, from, string(cond), "the authoritative server of "+from+" could not be asked")
		s.m.auth.WithLabelValues(dirIn, methodDialback, "error").Inc()
	default:
		b = appendDialback(nil, false, to, from, "", "invalid", "")
		s.m.auth.WithLabelValues(dirIn, methodDialback, "failure").Inc()
		c.log.Warn("dialback key invalid", zap.String("domain", from))
	}
	if err := c.write(b); err != nil {
		c.close("write-error", nil)
	}
}

// write writes raw under the write lock; nothing is written once closed.
func (c *inStream) write(raw []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	_, err := c.conn.Write(raw)
	return err
}

func (c *inStream) isClosed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closed
}

func (c *inStream) setReason(reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
}

// fail closes the stream with a stream error naming the cause.
func (c *inStream) fail(cond stream.Condition, text string) {
	c.close(string(cond), &stream.Error{Condition: cond, Text: text})
}

// close ends the stream: the stream error if any, then the end of the
// stream (with our header first if it was not sent). The socket itself
// is closed by serve on its way out, after the peer had a moment to read.
func (c *inStream) close(reason string, e *stream.Error) {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return
	}
	c.closed = true
	var buf []byte
	if reason != "lost" && reason != "tls-failed" {
		if !c.headerSent {
			c.mu.Lock()
			from := c.to
			c.mu.Unlock()
			if from == "" {
				from = c.srv.opts.Network
			}
			buf = stream.AppendOpen(buf, stream.Open{NS: stream.NSServer, From: from, ID: newStreamID(), Version: "1.0"})
		}
		if e != nil {
			buf = e.AppendXML(buf)
		}
		buf = append(buf, stream.Close...)
		c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		c.conn.Write(buf)
	}
	// Wake serve if it waits for input; the peer has a moment to close.
	c.raw.SetReadDeadline(time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.setReason(reason)
	if e != nil {
		c.log.Info("closing inbound stream", zap.String("condition", string(e.Condition)), zap.String("text", e.Text))
	}
	c.closeOnce.Do(func() { close(c.closing) })
	c.cancel()
}

// abort closes the socket at once (shutdown timeout).
func (c *inStream) abort() {
	c.closeOnce.Do(func() { close(c.closing) })
	c.cancel()
	c.raw.Close()
}

// finish runs when serve returns: the socket goes, and the stream is
// forgotten.
func (c *inStream) finish() {
	c.close("lost", nil)
	c.closeOnce.Do(func() { close(c.closing) })
	c.cancel()
	c.wmu.Lock()
	conn := c.conn
	c.wmu.Unlock()
	lingerClose(conn, c.raw)
	s := c.srv
	s.mu.Lock()
	delete(s.ins, c.id)
	s.mu.Unlock()
	c.mu.Lock()
	reason, to, from, network := c.reason, c.to, c.from, c.network
	domains := make([]string, 0, len(c.domains))
	for d := range c.domains {
		domains = append(domains, d)
	}
	c.mu.Unlock()
	kind := kindFederation
	if network {
		kind = kindNetwork
	}
	if to != "" {
		s.m.connections.WithLabelValues(dirIn, kind).Dec()
	}
	s.m.closed.WithLabelValues(dirIn, reason).Inc()
	slices.Sort(domains)
	s.recordClose(ClosedStream{ID: c.id, Direction: dirIn, Kind: kind, Local: to, Remote: from, Domains: domains,
		Reason: reason, Stanzas: c.in.Load(), Started: c.started, Closed: time.Now()})
	c.log.Debug("inbound stream ended", zap.String("reason", reason))
}

// declares reports whether the scope binds prefix to uri.
func declares(sc xml.Scope, prefix, uri string) bool {
	got, ok := sc.URI(prefix)
	return ok && got == uri
}

// newStreamID returns a random stream id; dialback keys depend on it, so
// it must not be guessable.
func newStreamID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
