package xmppclient

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Namespaces the client speaks.
const (
	NSTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession = "urn:ietf:params:xml:ns:xmpp-session"
	NSSM      = "urn:xmpp:sm:3"
	NSCSI     = "urn:xmpp:csi:0"
	NSPing    = "urn:xmpp:ping"
	NSLimits  = "urn:xmpp:stream-limits:0"
	// NSRegisterFeature is the stream feature of in-band registration.
	NSRegisterFeature = "http://jabber.org/features/iq-register"
)

// ALPN is the protocol name of XMPP client streams over direct TLS (XEP-0368).
const ALPN = "xmpp-client"

// ErrStreamClosed is returned by Next once the server closed the stream.
var ErrStreamClosed = errors.New("xmppclient: the server closed the stream")

// Config says where and how to connect.
type Config struct {
	// Addr is the server's address, host:port.
	Addr string
	// Domain is the XMPP domain the stream is opened to (the network
	// domain N), and the TLS server name unless TLS sets one.
	Domain string
	// DirectTLS starts TLS at once (XEP-0368, port 5223) instead of
	// negotiating STARTTLS in the stream (port 5222).
	DirectTLS bool
	// NoTLS stops before STARTTLS: Dial returns the clear-text stream
	// with its features, for tests of what a server allows before TLS.
	NoTLS bool
	// TLS configures the handshake: RootCAs (or InsecureSkipVerify) and
	// the client certificate to present. It is cloned.
	TLS *tls.Config
	// Dialer dials the TCP connection; nil uses a zero net.Dialer. Set
	// its LocalAddr to connect from a given source address.
	Dialer *net.Dialer
	// Limits bound what the client reads (zero: the xml package defaults).
	Limits xml.Limits
	// ManualAck leaves the server's XEP-0198 requests (<r/>) to the
	// caller, who sees them from Next and answers with Ack; by default
	// Next answers them itself and does not return them.
	ManualAck bool
}

// Client is one client connection. Its methods must be called from one
// goroutine at a time, except Send and Abort, which may be called while
// another goroutine waits in Next.
type Client struct {
	cfg Config
	raw net.Conn // the TCP connection
	src source   // reads from the TLS connection once there is one
	r   *xml.Reader

	wmu  sync.Mutex // serializes writes
	conn net.Conn   // what is written to: raw, then the TLS connection

	features *xml.Element
	jid      string
	pending  []*xml.Element // read while waiting for something else
	nextID   uint64

	sm       bool   // XEP-0198 enabled
	received uint32 // stanzas read since enable (the inbound h)
	sent     uint32 // stanzas sent since enable
	acked    uint32 // the last h the server acknowledged
}

// Dial connects, negotiates TLS (unless NoTLS) and opens the stream; the
// features offered are in Features.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	d := cfg.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("xmppclient: dial %s: %w", cfg.Addr, err)
	}
	c := &Client{cfg: cfg, raw: raw, conn: raw}
	c.src.conn = raw
	if err := c.connect(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if c.cfg.TLS != nil {
		cfg = c.cfg.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = c.cfg.Domain
	}
	return cfg
}

func (c *Client) connect(ctx context.Context) error {
	if c.cfg.DirectTLS {
		cfg := c.tlsConfig()
		cfg.NextProtos = []string{ALPN}
		if err := c.startTLS(ctx, cfg); err != nil {
			return err
		}
	}
	c.r = xml.NewReader(&c.src, c.cfg.Limits)
	c.r.SetTree(true)
	if err := c.open(ctx); err != nil {
		return err
	}
	if c.cfg.DirectTLS || c.cfg.NoTLS {
		return nil
	}
	if c.features.Child("starttls", NSTLS) == nil {
		return errors.New("xmppclient: the server does not offer STARTTLS")
	}
	if err := c.write(ctx, []byte("<starttls xmlns='"+NSTLS+"'/>")); err != nil {
		return err
	}
	el, err := c.readStream(ctx)
	if err != nil {
		return fmt.Errorf("xmppclient: starttls: %w", err)
	}
	if el.Local() != "proceed" || el.Space != NSTLS {
		return fmt.Errorf("xmppclient: starttls answered with %s", el)
	}
	if c.r.Buffered() != 0 {
		return errors.New("xmppclient: data after <proceed/> before the TLS handshake")
	}
	if err := c.startTLS(ctx, c.tlsConfig()); err != nil {
		return err
	}
	c.r.Reset(&c.src)
	return c.open(ctx)
}

func (c *Client) startTLS(ctx context.Context, cfg *tls.Config) error {
	tc := tls.Client(c.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("xmppclient: TLS handshake: %w", err)
	}
	c.wmu.Lock()
	c.conn = tc
	c.wmu.Unlock()
	c.src.conn = tc
	return nil
}

// open sends a stream header and reads the server's header and features.
func (c *Client) open(ctx context.Context) error {
	header := stream.AppendOpen(nil, stream.Open{NS: stream.NSClient, To: c.cfg.Domain, Version: "1.0"})
	if err := c.write(ctx, header); err != nil {
		return err
	}
	top, err := c.readTop(ctx)
	if err != nil {
		return fmt.Errorf("xmppclient: stream header: %w", err)
	}
	if top.Kind != xml.KindOpen {
		return errors.New("xmppclient: the server did not open a stream")
	}
	el, err := c.readStream(ctx)
	if err != nil {
		return fmt.Errorf("xmppclient: stream features: %w", err)
	}
	if el.Local() != "features" || el.Space != xml.NSStream {
		return fmt.Errorf("xmppclient: expected stream features, got %s", el)
	}
	c.features = el
	return nil
}

// Features returns the stream features of the current stream.
func (c *Client) Features() *xml.Element { return c.features }

// StreamID returns the id of the server's current stream header.
func (c *Client) StreamID() string { return c.r.Header().Get("id") }

// Mechanisms lists the SASL mechanisms offered.
func (c *Client) Mechanisms() []string {
	var m []string
	if mechs := c.features.Child("mechanisms", NSSASL); mechs != nil {
		for e := range mechs.ChildrenNamed("mechanism", NSSASL) {
			m = append(m, e.Text())
		}
	}
	return m
}

// ConnectionState returns the TLS state, or false before TLS.
func (c *Client) ConnectionState() (tls.ConnectionState, bool) {
	if tc, ok := c.src.conn.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// JID returns the full JID bound, once bound.
func (c *Client) JID() string { return c.jid }

// SASLError is a <failure/> answering an authentication.
type SASLError struct {
	Condition string
	Text      string
}

func (e *SASLError) Error() string {
	if e.Text == "" {
		return "sasl failure: " + e.Condition
	}
	return "sasl failure: " + e.Condition + ": " + e.Text
}

// EmptyResponse is the SASL initial response that carries nothing (RFC
// 6120 §6.4.2), as Kontalk clients send with EXTERNAL.
const EmptyResponse = "="

// AuthExternal authenticates with SASL EXTERNAL. initial is the text of
// <auth/>: EmptyResponse, the base64 of an authorization identity, or ""
// for an empty <auth/> (to which a server may answer with a challenge,
// answered with an empty response). On success the stream is restarted and
// the new features read; a refusal is a *SASLError.
func (c *Client) AuthExternal(ctx context.Context, initial string) error {
	return c.auth(ctx, "EXTERNAL", initial, true)
}

// AuthPlain authenticates with SASL PLAIN (RFC 4616) as username with
// password, for servers with password accounts (other servers in
// benchmarks and interoperability tests). Only use it over TLS. On success
// the stream is restarted; a refusal is a *SASLError.
func (c *Client) AuthPlain(ctx context.Context, username, password string) error {
	if strings.ContainsRune(username, 0) || strings.ContainsRune(password, 0) {
		return errors.New("xmppclient: PLAIN credentials cannot contain NUL")
	}
	// authzid (empty) NUL authcid NUL passwd
	msg := "\x00" + username + "\x00" + password
	return c.auth(ctx, "PLAIN", base64.StdEncoding.EncodeToString([]byte(msg)), false)
}

// auth sends <auth/> for mechanism with the initial response given and
// waits for the outcome; answerChallenge answers a challenge with an
// empty response (EXTERNAL), otherwise a challenge is an error.
func (c *Client) auth(ctx context.Context, mechanism, initial string, answerChallenge bool) error {
	auth := "<auth xmlns='" + NSSASL + "' mechanism='" + mechanism + "'/>"
	if initial != "" {
		auth = "<auth xmlns='" + NSSASL + "' mechanism='" + mechanism + "'>" + initial + "</auth>"
	}
	if err := c.write(ctx, []byte(auth)); err != nil {
		return err
	}
	for {
		el, err := c.Expect(ctx, func(el *xml.Element) bool { return el.Space == NSSASL })
		if err != nil {
			return fmt.Errorf("xmppclient: auth: %w", err)
		}
		switch {
		case el.Local() == "success":
			c.r.Restart()
			return c.open(ctx)
		case el.Local() == "failure":
			return parseFailure(el)
		case el.Local() == "challenge" && answerChallenge:
			if err := c.write(ctx, []byte("<response xmlns='"+NSSASL+"'>=</response>")); err != nil {
				return err
			}
		default:
			return fmt.Errorf("xmppclient: %s auth answered with %s", mechanism, el)
		}
	}
}

func parseFailure(el *xml.Element) *SASLError {
	e := &SASLError{}
	for ch := range el.Elements() {
		if ch.Local() == "text" {
			e.Text = ch.Text()
		} else if e.Condition == "" {
			e.Condition = ch.Local()
		}
	}
	return e
}

// Bind binds resource (the server picks one when it is empty) and returns
// the full JID. A refusal is a *stanza.Error.
func (c *Client) Bind(ctx context.Context, resource string) (string, error) {
	payload := "<bind xmlns='" + NSBind + "'/>"
	if resource != "" {
		payload = "<bind xmlns='" + NSBind + "'><resource>" + string(xml.AppendEscapedText(nil, resource)) + "</resource></bind>"
	}
	reply, err := c.IQ(ctx, "set", "", payload)
	if err != nil {
		return "", fmt.Errorf("xmppclient: bind: %w", err)
	}
	bind := reply.Child("bind", NSBind)
	if bind == nil || bind.Child("jid", NSBind) == nil {
		return "", fmt.Errorf("xmppclient: bind result without a jid: %s", reply)
	}
	c.jid = bind.Child("jid", NSBind).Text()
	return c.jid, nil
}

// Session sends the RFC 3921 session request older clients send after
// binding.
func (c *Client) Session(ctx context.Context) error {
	_, err := c.IQ(ctx, "set", "", "<session xmlns='"+NSSession+"'/>")
	return err
}

// IQ sends an IQ of type typ (get or set) to the address to (none when
// empty) with the payload given, and waits for its answer. An error
// answer is returned as a *stanza.Error, with the reply.
func (c *Client) IQ(ctx context.Context, typ, to, payload string) (*xml.Element, error) {
	c.nextID++
	id := "c" + strconv.FormatUint(c.nextID, 10)
	raw := "<iq type='" + typ + "' id='" + id + "'"
	if to != "" {
		raw += " to='" + string(xml.AppendEscapedAttr(nil, to, '\'')) + "'"
	}
	raw += ">" + payload + "</iq>"
	if err := c.Send(ctx, []byte(raw)); err != nil {
		return nil, err
	}
	reply, err := c.Expect(ctx, func(el *xml.Element) bool {
		t := el.Attr("type")
		return el.Local() == "iq" && el.Attr("id") == id && (t == "result" || t == "error")
	})
	if err != nil {
		return nil, err
	}
	if reply.Attr("type") == "error" {
		if e := stanza.ParseError(reply); e != nil {
			return reply, e
		}
		return reply, &stanza.Error{Condition: stanza.UndefinedCondition}
	}
	return reply, nil
}

// Send writes raw bytes: a stanza (counted for XEP-0198), a nonza or
// whitespace.
func (c *Client) Send(ctx context.Context, raw []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if isStanza(raw) {
		c.sent++
	}
	return c.writeLocked(ctx, raw)
}

// isStanza reports whether raw starts with a stanza's start tag.
func isStanza(raw []byte) bool {
	for _, name := range []string{"<message", "<presence", "<iq"} {
		if len(raw) > len(name) && string(raw[:len(name)]) == name {
			switch raw[len(name)] {
			case ' ', '>', '/', '\t', '\n', '\r':
				return true
			}
		}
	}
	return false
}

func (c *Client) write(ctx context.Context, raw []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(ctx, raw)
}

func (c *Client) writeLocked(ctx context.Context, raw []byte) error {
	deadline, _ := ctx.Deadline()
	c.conn.SetWriteDeadline(deadline)
	if _, err := c.conn.Write(raw); err != nil {
		return fmt.Errorf("xmppclient: write: %w", err)
	}
	return nil
}

// Next returns the next element from the server: a stanza or a nonza,
// first those that arrived while the client waited for something else.
// XEP-0198 acknowledgements (<a/>) are recorded and returned; requests
// (<r/>) are answered and not returned unless ManualAck is set. A stream
// error is returned as a *stream.Error, the end of the stream as
// ErrStreamClosed. A context that ends while nothing is being received
// leaves the client usable; one that ends inside an element does not.
func (c *Client) Next(ctx context.Context) (*xml.Element, error) {
	if len(c.pending) > 0 {
		el := c.pending[0]
		c.pending = c.pending[1:]
		return el, nil
	}
	return c.readStream(ctx)
}

// Expect returns the first element, received or still to come, that
// satisfies match; the others stay for Next.
func (c *Client) Expect(ctx context.Context, match func(*xml.Element) bool) (*xml.Element, error) {
	for i, el := range c.pending {
		if match(el) {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return el, nil
		}
	}
	for {
		el, err := c.readStream(ctx)
		if err != nil {
			return nil, err
		}
		if match(el) {
			return el, nil
		}
		c.pending = append(c.pending, el)
	}
}

// readStream reads the next element from the stream, handling XEP-0198
// requests and acknowledgements.
func (c *Client) readStream(ctx context.Context) (*xml.Element, error) {
	for {
		top, err := c.readTop(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case top.Kind == xml.KindClose:
			return nil, ErrStreamClosed
		case top.Kind != xml.KindElement:
			return nil, fmt.Errorf("xmppclient: unexpected %v", top.Kind)
		case top.Is("stream:error"):
			return nil, stream.ParseError(top.Elem)
		}
		el := top.Elem
		if !c.sm {
			return el, nil
		}
		switch {
		case isStanzaName(el.Local()):
			c.received++
		case el.Space == NSSM && el.Local() == "r" && !c.cfg.ManualAck:
			if err := c.Ack(ctx); err != nil {
				return nil, err
			}
			continue
		case el.Space == NSSM && el.Local() == "a":
			if h, err := strconv.ParseUint(el.Attr("h"), 10, 32); err == nil {
				c.acked = uint32(h)
			}
		}
		return el, nil
	}
}

func isStanzaName(local string) bool {
	return local == "message" || local == "presence" || local == "iq"
}

// readTop waits for input (keeping the reader intact if ctx ends first)
// and reads the next unit.
func (c *Client) readTop(ctx context.Context) (*xml.Top, error) {
	deadline, hasDeadline := ctx.Deadline()
	c.src.conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.src.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if c.r.Buffered() == 0 {
		c.r.Release()
		if err := c.src.peek(); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if hasDeadline && !time.Now().Before(deadline) {
				// The read deadline can pass just before the context's.
				return nil, context.DeadlineExceeded
			}
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("xmppclient: connection closed: %w", err)
			}
			return nil, fmt.Errorf("xmppclient: read: %w", err)
		}
	}
	top, err := c.r.Next()
	if err != nil {
		if se := stream.FromReadError(err); se != nil {
			return nil, fmt.Errorf("xmppclient: the server sent bad XML: %w", se)
		}
		return nil, fmt.Errorf("xmppclient: read: %w", err)
	}
	return top, nil
}

// source reads from the connection, first returning a byte peeked while
// waiting for input: a timeout while peeking leaves the XML reader intact.
type source struct {
	conn   net.Conn
	peeked bool
	b      [1]byte
}

func (s *source) peek() error {
	if s.peeked {
		return nil
	}
	n, err := s.conn.Read(s.b[:])
	if n == 1 {
		s.peeked = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (s *source) Read(p []byte) (int, error) {
	if s.peeked && len(p) > 0 {
		s.peeked = false
		p[0] = s.b[0]
		return 1, nil
	}
	return s.conn.Read(p)
}

// Enabled is the server's answer to an XEP-0198 enable.
type Enabled struct {
	ID     string // resumption id, when resumable
	Resume bool
	Max    int // seconds the server keeps the session for resumption
}

// EnableSM enables XEP-0198 stream management, with resumption when
// resume is set. A refusal is a *stanza.Error.
func (c *Client) EnableSM(ctx context.Context, resume bool) (Enabled, error) {
	req := "<enable xmlns='" + NSSM + "'/>"
	if resume {
		req = "<enable xmlns='" + NSSM + "' resume='true'/>"
	}
	c.wmu.Lock()
	c.sent = 0
	err := c.writeLocked(ctx, []byte(req))
	c.wmu.Unlock()
	if err != nil {
		return Enabled{}, err
	}
	el, err := c.expectSM(ctx, "enabled")
	if err != nil {
		return Enabled{}, err
	}
	// The server counts from <enabled/>: what came before is not counted.
	c.received, c.acked = 0, 0
	c.sm = true
	max, _ := strconv.Atoi(el.Attr("max"))
	r := el.Attr("resume")
	return Enabled{ID: el.Attr("id"), Resume: r == "true" || r == "1", Max: max}, nil
}

// expectSM waits for the XEP-0198 nonza named want, or <failed/>; other
// elements are kept for Next.
func (c *Client) expectSM(ctx context.Context, want string) (*xml.Element, error) {
	el, err := c.Expect(ctx, func(el *xml.Element) bool {
		return el.Space == NSSM && (el.Local() == want || el.Local() == "failed")
	})
	if err != nil {
		return nil, err
	}
	if el.Local() == "failed" {
		if e := stanza.ParseError(wrapError(el)); e != nil {
			return nil, e
		}
		return nil, &stanza.Error{Condition: stanza.UndefinedCondition, Text: "stream management failed"}
	}
	return el, nil
}

// wrapError puts the conditions of an XEP-0198 <failed/> inside an
// <error/> so that stanza.ParseError reads them.
func wrapError(failed *xml.Element) *xml.Element {
	e := xml.New("error", "")
	e.Children = failed.Children
	return xml.New("failed", NSSM).Append(e)
}

// Resume resumes the XEP-0198 session id on this authenticated, unbound
// stream, saying that h stanzas were received on the old one, and returns
// the server's h (the client's stanzas it handled). The server then sends
// again what the old stream did not acknowledge.
func (c *Client) Resume(ctx context.Context, id string, h uint32) (uint32, error) {
	req := "<resume xmlns='" + NSSM + "' previd='" + string(xml.AppendEscapedAttr(nil, id, '\'')) + "' h='" + strconv.FormatUint(uint64(h), 10) + "'/>"
	if err := c.write(ctx, []byte(req)); err != nil {
		return 0, err
	}
	el, err := c.expectSM(ctx, "resumed")
	if err != nil {
		return 0, err
	}
	c.sm = true
	got, err := strconv.ParseUint(el.Attr("h"), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("xmppclient: resumed without a valid h: %s", el)
	}
	c.received, c.acked = h, uint32(got)
	return uint32(got), nil
}

// RequestAck sends an XEP-0198 request (<r/>).
func (c *Client) RequestAck(ctx context.Context) error {
	return c.write(ctx, []byte("<r xmlns='"+NSSM+"'/>"))
}

// Ack sends an XEP-0198 acknowledgement of every stanza read so far.
func (c *Client) Ack(ctx context.Context) error {
	return c.write(ctx, []byte("<a xmlns='"+NSSM+"' h='"+strconv.FormatUint(uint64(c.received), 10)+"'/>"))
}

// Received returns the stanzas read since XEP-0198 was enabled.
func (c *Client) Received() uint32 { return c.received }

// Sent returns the stanzas sent since XEP-0198 was enabled.
func (c *Client) Sent() uint32 {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sent
}

// Acked returns the last h the server acknowledged.
func (c *Client) Acked() uint32 { return c.acked }

// Close ends the stream and waits (until ctx ends) for the server to end
// its side, then closes the connection.
func (c *Client) Close(ctx context.Context) error {
	defer c.raw.Close()
	if err := c.write(ctx, []byte(stream.Close)); err != nil {
		return err
	}
	for {
		if _, err := c.readStream(ctx); err != nil {
			if errors.Is(err, ErrStreamClosed) {
				return nil
			}
			return err
		}
	}
}

// Abort closes the connection without ending the stream, as a network
// failure would.
func (c *Client) Abort() error { return c.raw.Close() }

// LoginOptions say what Login does after authenticating.
type LoginOptions struct {
	// Resource to bind; empty lets the server choose.
	Resource string
	// StreamManagement enables XEP-0198; Resume asks for resumption.
	StreamManagement, Resume bool
	// Username and Password, when Username is set, authenticate with
	// SASL PLAIN instead of EXTERNAL (servers with password accounts).
	Username, Password string
}

// Login dials, authenticates with SASL EXTERNAL (empty initial
// response) or, given a Username, PLAIN, binds and, if asked, enables stream management.
func Login(ctx context.Context, cfg Config, opts LoginOptions) (*Client, error) {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.login(ctx, opts); err != nil {
		c.Abort()
		return nil, err
	}
	return c, nil
}

func (c *Client) login(ctx context.Context, opts LoginOptions) error {
	var err error
	if opts.Username != "" {
		err = c.AuthPlain(ctx, opts.Username, opts.Password)
	} else {
		err = c.AuthExternal(ctx, EmptyResponse)
	}
	if err != nil {
		return err
	}
	if _, err := c.Bind(ctx, opts.Resource); err != nil {
		return err
	}
	if opts.StreamManagement || opts.Resume {
		if _, err := c.EnableSM(ctx, opts.Resume); err != nil {
			return err
		}
	}
	return nil
}
