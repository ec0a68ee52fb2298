package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/outbound"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Close reasons, used as the log field and metric label.
const (
	reasonClosed       = "closed"        // the component closed its stream
	reasonLost         = "lost"          // the connection ended without a stream close
	reasonWriteError   = "write-error"   // a write failed or timed out
	reasonSlowConsumer = "slow-consumer" // its queue stayed full
	reasonShutdown     = "shutdown"      // the router is stopping
	reasonPeerError    = "peer-error"    // the component sent a stream error
)

// preAuthLimits bound what an unauthenticated peer can make the router
// read: a stream header and a handshake are small.
var preAuthLimits = xml.Limits{MaxElementBytes: 4 << 10, MaxHeaderBytes: 4 << 10, MaxDepth: 2, MaxAttrs: 16}

// conn is one component connection. Its reading goroutine (serve) does
// the handshake, then routes what the component sends; its writing
// goroutine (writeLoop) drains the outbound queue and owns the socket's
// last write and its closing.
type conn struct {
	srv     *Server
	id      uint64
	nc      net.Conn
	log     *zap.Logger
	out     *outbound.Queue
	started time.Time

	// Set by the handshake, read-only afterwards.
	name    string
	seed    uint64
	trusted bool
	scope   xml.Scope // of the component's stream header

	// bound holds the names this connection bound, the handshake name
	// first. Only the reading goroutine changes it, under srv.mu.
	bound       []string
	registered  bool   // the handshake name is routed; guarded by srv.mu
	defaultName string // the bound name that carries the default route

	in, outCount atomic.Uint64 // stanzas read, stanzas queued

	closeOnce sync.Once
	stop      chan struct{} // closed by close: the writer finishes
	done      chan struct{} // closed when the socket is closed
	reason    string
	final     []byte // written last: stream error and stream end
	flush     bool   // write what is queued before final
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	return &conn{
		srv:     s,
		id:      id,
		nc:      nc,
		log:     s.log.With(zap.Uint64("conn", id), zap.String("remote", nc.RemoteAddr().String())),
		out:     outbound.New(s.opts.QueueBytes),
		started: time.Now(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// serve runs the connection until it ends.
func (c *conn) serve() {
	defer func() { <-c.done }()
	r := xml.NewReader(c.nc, preAuthLimits)
	if !c.handshake(r) {
		return
	}
	go c.writeLoop()
	c.readLoop(r)
}

// handshake authenticates the component (XEP-0114). On failure it
// closes the connection and returns false.
func (c *conn) handshake(r *xml.Reader) bool {
	c.nc.SetDeadline(time.Now().Add(c.srv.opts.HandshakeTimeout))
	var header []byte
	fail := func(cond stream.Condition, text string) bool {
		if header == nil {
			header = stream.AppendOpen(nil, stream.Open{NS: stream.NSComponent, ID: newStreamID()})
		}
		c.abort(header, &stream.Error{Condition: cond, Text: text})
		return false
	}
	if _, err := r.Next(); err != nil {
		return c.handshakeReadError(err, fail)
	}
	h := r.Header()
	switch {
	case h.Name != "stream:stream" || !declares(h.Scope, "stream", xml.NSStream):
		return fail(stream.InvalidNamespace, "expected a stream:stream header in "+xml.NSStream)
	case h.Scope.Default != stream.NSComponent:
		return fail(stream.InvalidNamespace, "components speak "+stream.NSComponent)
	case h.Get("to") == "":
		return fail(stream.ImproperAddressing, "the stream header must name the component in 'to'")
	}
	c.scope = h.Scope
	name, ok := jid.AppendDomain(nil, []byte(h.Get("to")))
	if !ok {
		return fail(stream.HostUnknown, "the component name is not a valid domain")
	}
	c.name = string(name)
	c.seed = fnv64String(c.name)
	c.log = c.log.With(zap.String("component", c.name))
	id := newStreamID()
	header = stream.AppendOpen(nil, stream.Open{NS: stream.NSComponent, From: c.name, ID: id})
	if _, err := c.nc.Write(header); err != nil {
		c.abort(nil, nil)
		return false
	}

	top, err := r.Next()
	if err != nil {
		return c.handshakeReadError(err, func(cond stream.Condition, text string) bool {
			c.abort(nil, &stream.Error{Condition: cond, Text: text})
			return false
		})
	}
	if !top.Is("handshake") {
		c.abort(nil, &stream.Error{Condition: stream.NotAuthorized, Text: "expected <handshake/>"})
		return false
	}
	secret, trusted, known := c.srv.secretFor(c.name)
	if !known || !component.VerifyHandshake(id, secret, bytes.TrimSpace(top.Inner())) {
		c.srv.m.authFailures.Inc()
		c.log.Warn("component handshake refused")
		c.abort(nil, &stream.Error{Condition: stream.NotAuthorized, Text: "wrong secret for " + c.name})
		return false
	}
	c.trusted = trusted
	if serr := c.srv.register(c); serr != nil {
		c.abort(nil, serr)
		return false
	}
	// Written before the writer starts, so it precedes anything routed
	// to the component from now on.
	if _, err := c.nc.Write([]byte("<handshake/>")); err != nil {
		c.close(reasonLost, nil, false)
		c.finish(nil)
		close(c.done)
		return false
	}
	c.nc.SetDeadline(time.Time{})
	r.SetLimits(xml.Limits{MaxElementBytes: c.srv.opts.MaxStanza})
	c.log.Info("component connected", zap.Bool("trusted", c.trusted))
	return true
}

// handshakeReadError answers a failure to read the header or handshake:
// bad XML gets its stream error, a peer too slow gets connection-timeout.
func (c *conn) handshakeReadError(err error, fail func(stream.Condition, string) bool) bool {
	if se := stream.FromReadError(err); se != nil {
		return fail(se.Condition, se.Text)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fail(stream.ConnectionTimeout, "no handshake within "+c.srv.opts.HandshakeTimeout.String())
	}
	c.log.Debug("connection lost before the handshake", zap.Error(err))
	c.abort(nil, nil)
	return false
}

// declares reports whether the scope binds prefix to uri.
func declares(s xml.Scope, prefix, uri string) bool {
	got, ok := s.URI(prefix)
	return ok && got == uri
}

// newStreamID returns a random stream id.
func newStreamID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// abort closes a connection whose writer has not started: it writes
// what is given (the stream header if not sent yet, the stream error)
// and closes the socket.
func (c *conn) abort(header []byte, e *stream.Error) {
	c.closeOnce.Do(func() {
		c.reason = reasonLost
		if e != nil {
			c.reason = string(e.Condition)
			buf := append(header, e.AppendXML(nil)...)
			buf = append(buf, stream.Close...)
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			c.nc.Write(buf)
			c.log.Info("component refused", zap.String("condition", string(e.Condition)), zap.String("text", e.Text))
		}
		close(c.stop)
		lingerClose(c.nc)
		close(c.done)
		c.srv.closed(c)
	})
}

// close ends an authenticated connection: the routes go at once, the
// writer finishes (flushing the queue when flush is set), writes the
// stream error if any and the stream end, and closes the socket.
func (c *conn) close(reason string, e *stream.Error, flush bool) {
	c.closeOnce.Do(func() {
		c.reason = reason
		c.flush = flush
		if e != nil {
			c.final = e.AppendXML(nil)
			c.log.Info("closing component stream", zap.String("reason", reason),
				zap.String("condition", string(e.Condition)), zap.String("text", e.Text))
		} else {
			c.log.Info("component disconnected", zap.String("reason", reason))
		}
		c.final = append(c.final, stream.Close...)
		c.srv.unregister(c)
		c.out.Close()
		if !flush {
			// Interrupt a write blocked on a peer that does not read.
			c.nc.SetWriteDeadline(time.Now())
		}
		close(c.stop)
		c.srv.closed(c)
	})
}

// fail closes the connection with a stream error.
func (c *conn) fail(cond stream.Condition, text string) {
	c.close(string(cond), &stream.Error{Condition: cond, Text: text}, true)
}

// readLoop routes what the component sends until the stream ends.
func (c *conn) readLoop(r *xml.Reader) {
	var sc scratch
	for {
		top, err := r.Next()
		if err != nil {
			if se := stream.FromReadError(err); se != nil {
				c.fail(se.Condition, se.Text)
			} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				c.close(reasonLost, nil, false)
			} else {
				c.log.Debug("read failed", zap.Error(err))
				c.close(reasonLost, nil, false)
			}
			return
		}
		if top.Kind == xml.KindClose {
			c.close(reasonClosed, nil, true)
			return
		}
		c.in.Add(1)
		switch {
		case top.Is("message") || top.Is("presence") || top.Is("iq"):
			c.route(top, &sc)
		case component.IsExtension(top):
			c.extension(top)
		case top.Is("stream:error"):
			c.log.Info("component sent a stream error", zap.ByteString("error", top.Raw))
			c.close(reasonPeerError, nil, false)
		default:
			c.fail(stream.UnsupportedStanzaType, "<"+string(top.Name())+"/> is not a stanza")
		}
		select {
		case <-c.stop:
			return
		default:
		}
	}
}

// scratch holds the buffers one reading goroutine reuses for every
// stanza, so routing does not allocate.
type scratch struct {
	from, fromDomain, to, toDomain, bare []byte
}

// route forwards a stanza to the connection that serves its 'to'.
func (c *conn) route(top *xml.Top, sc *scratch) {
	stamp := c.srv.now()
	if ns, ok := top.Attr("xmlns"); ok && !stanzaNamespace(ns) {
		c.fail(stream.InvalidNamespace, "stanza in namespace "+string(ns))
		return
	}
	if !top.Has("from") {
		// XEP-0114 requires 'from', but libraries omit it (slixmpp does
		// by default): like Prosody, stamp the component's own name.
		stamped, err := xml.ParseTop(top.AppendWithAttr(nil, "from", c.name), c.scope)
		if err != nil {
			c.fail(stream.ImproperAddressing, "stanza without a 'from' address")
			return
		}
		top = stamped
	}
	var ok bool
	if sc.from, ok = top.AppendValue(sc.from[:0], "from"); !ok || len(sc.from) == 0 {
		c.fail(stream.InvalidFrom, "empty 'from' address")
		return
	}
	if sc.fromDomain, ok = jid.AppendDomain(sc.fromDomain[:0], sc.from); !ok {
		c.fail(stream.InvalidFrom, "malformed 'from' address")
		return
	}
	if !c.trusted {
		if !c.speaksFor(sc.fromDomain) {
			c.fail(stream.InvalidFrom, "'from' domain "+string(sc.fromDomain)+" is not bound by "+c.name)
			return
		}
		// Route presences come from the router alone: a component must
		// not be able to announce that a name went away.
		if top.Is("presence") && bytes.Contains(top.Inner(), []byte(component.NS)) {
			c.fail(stream.PolicyViolation, "the namespace "+component.NS+" is reserved for the router")
			return
		}
	}
	if top.StreamPrefix {
		c.srv.bounce(top, &stanza.Error{Condition: stanza.BadRequest, Text: "the stanza uses a namespace prefix declared on the stream header"})
		return
	}
	if sc.to, ok = top.AppendValue(sc.to[:0], "to"); !ok || len(sc.to) == 0 {
		c.srv.bounce(top, &stanza.Error{Condition: stanza.BadRequest, Text: "stanza without a 'to' address"})
		return
	}
	if sc.toDomain, ok = jid.AppendDomain(sc.toDomain[:0], sc.to); !ok {
		c.srv.bounce(top, &stanza.Error{Condition: stanza.JIDMalformed, Text: "malformed 'to' address"})
		return
	}
	target := c.srv.lookup(sc.toDomain, sc.to, &sc.bare, c)
	if target == nil {
		c.srv.bounce(top, &stanza.Error{Condition: stanza.RemoteServerNotFound, Text: "no route to " + string(sc.toDomain)})
		return
	}
	if !c.srv.deliver(target, top.Raw, stamp) {
		c.srv.bounce(top, &stanza.Error{Condition: stanza.ServiceUnavailable, Text: string(sc.toDomain) + " cannot take stanzas now"})
	}
}

// stanzaNamespace reports whether a stanza may declare namespace ns: the
// component namespace it inherits, or the client and server namespaces
// of stanzas forwarded from other streams.
func stanzaNamespace(ns []byte) bool {
	switch string(ns) {
	case stream.NSComponent, stream.NSClient, stream.NSServer:
		return true
	}
	return false
}

// speaksFor reports whether the domain is one this connection bound.
func (c *conn) speaksFor(domain []byte) bool {
	for _, n := range c.bound {
		if n == string(domain) {
			return true
		}
	}
	return false
}

// extension answers a bind or unbind request.
func (c *conn) extension(top *xml.Top) {
	op := string(top.Name())
	var name, id string
	var serr *stanza.Error
	if op == "bind" {
		var b component.Bind
		b, id = component.ParseBind(top)
		name, serr = c.srv.bind(c, b)
		if name == "" {
			name = b.Name
		}
	} else {
		id = top.Value("id")
		name, serr = c.srv.unbind(c, top.Value("name"))
	}
	c.control(component.AppendReply(nil, op, name, id, serr))
}

// control queues a message of the router's own to this connection. A
// component that has no room even for that is not reading.
func (c *conn) control(raw []byte) {
	if ok, _ := c.out.TryPush(raw, 0); !ok {
		c.slowConsumer()
	}
}

func (c *conn) slowConsumer() {
	n, units := c.out.Len()
	c.srv.m.slowConsumers.Inc()
	c.log.Warn("slow consumer", zap.Int("queued_bytes", n), zap.Int("queued_stanzas", units))
	c.close(reasonSlowConsumer, &stream.Error{Condition: stream.PolicyViolation, Text: "slow consumer: the component does not read what is routed to it"}, false)
}

// writeLoop writes queued stanzas in batches until the connection
// closes, then finishes it.
func (c *conn) writeLoop() {
	defer close(c.done)
	var buf []byte
	var stamps []int64
	keepalive := time.NewTimer(c.srv.opts.Keepalive)
	defer keepalive.Stop()
	for {
		// A closed connection finishes even while stanzas keep coming.
		select {
		case <-c.stop:
			c.finish(buf)
			return
		default:
		}
		select {
		case <-c.out.Ready():
		case <-c.stop:
			c.finish(buf)
			return
		case <-keepalive.C:
			c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
			if _, err := c.nc.Write([]byte{' '}); err != nil {
				c.close(reasonWriteError, nil, false)
				c.finish(buf)
				return
			}
			keepalive.Reset(c.srv.opts.Keepalive)
			continue
		}
		buf, stamps = c.out.Take(buf, stamps)
		if len(buf) == 0 {
			continue
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
		if _, err := c.nc.Write(buf); err != nil {
			c.log.Debug("write failed", zap.Error(err))
			c.close(reasonWriteError, nil, false)
			c.finish(buf)
			return
		}
		now := c.srv.now()
		for _, s := range stamps {
			if s != 0 {
				c.srv.m.hopLatency.Observe(float64(now-s) / 1e9)
			}
		}
		keepalive.Reset(c.srv.opts.Keepalive)
	}
}

// finish writes what is left to write (the queue when flushing, then the
// stream error and the stream end) and closes the socket.
func (c *conn) finish(buf []byte) {
	buf = buf[:0]
	if c.flush {
		buf, _ = c.out.Take(buf, nil)
	}
	buf = append(buf, c.final...)
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write(buf)
	lingerClose(c.nc)
}

// lingerClose closes a connection after its last write so that the peer
// reads that write: closing a socket with unread input makes the kernel
// reset the connection, which can discard the stream error in flight.
// It shuts down the sending side, then discards input for a moment.
func lingerClose(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseWrite()
		nc.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
	}
	nc.Close()
}
