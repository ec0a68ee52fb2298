package component

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/outbound"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Config configures a Client.
type Config struct {
	// Addr is the router's address (host:port).
	Addr string
	// Name is the component's own name, sent in the stream header and
	// bound by the handshake. Each process uses a unique one (c2s-1.H).
	Name string
	// Secret is the shared secret of the handshake.
	Secret string
	// Binds are requested after every handshake, in order.
	Binds []Bind
	// OnStanza receives every stanza the router delivers, on the reading
	// goroutine; top is valid only during the call. Required.
	OnStanza func(top *xml.Top)
	// OnRoute receives the router's route presences: a name appeared
	// (up) or disappeared. The current set arrives after each connect.
	OnRoute func(name string, up bool)
	// OnConnect runs after the handshake and the binds succeeded.
	OnConnect func()
	// OnDisconnect runs when a connection ends, with its cause.
	OnDisconnect func(err error)
	// QueueBytes bounds the send queue (default 4 MiB). Send waits while
	// it is full, connected or not.
	QueueBytes int
	// Limits of the router's stream (default: 1 MiB elements, the
	// router's own default limit).
	Limits xml.Limits
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts (defaults 50ms and 5s); each wait is random in [0, b)
	// with b doubling from MinBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds dialing, the handshake and the bind replies
	// (default 10s).
	Timeout time.Duration
	// Log receives connection events; nil discards them.
	Log *zap.Logger
}

// Client is a component's connection to the router. It reconnects with
// backoff until its context ends, and queues what is sent meanwhile.
type Client struct {
	cfg   Config
	log   *zap.Logger
	queue *outbound.Queue

	connected atomic.Bool
	readyOnce sync.Once
	ready     chan struct{}
}

// ErrNotAuthorized is returned by a connection the router refused for a
// wrong secret; Run keeps retrying (the secret may be fixed in the
// router's configuration), but logs it as an error.
var ErrNotAuthorized = errors.New("component: router refused the handshake")

// New validates cfg and returns a Client; it does no I/O.
func New(cfg Config) (*Client, error) {
	if cfg.Addr == "" || cfg.Name == "" || cfg.OnStanza == nil {
		return nil, errors.New("component: Addr, Name and OnStanza are required")
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 4 << 20
	}
	if cfg.Limits.MaxElementBytes == 0 {
		cfg.Limits.MaxElementBytes = 1 << 20
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Client{
		cfg:   cfg,
		log:   log.With(zap.String("component", cfg.Name), zap.String("router", cfg.Addr)),
		queue: outbound.New(cfg.QueueBytes),
		ready: make(chan struct{}),
	}, nil
}

// Send queues a serialized stanza, waiting while the queue is full until
// ctx ends. A stanza queued is written once connected; one written on a
// connection that then fails is not sent again (delivery guarantees are
// kept by the layers above, ARCHITECTURE.md §7).
func (c *Client) Send(ctx context.Context, raw []byte) error {
	if err := c.queue.Push(ctx, raw, 0); err != nil {
		return fmt.Errorf("component %s: send: %w", c.cfg.Name, err)
	}
	return nil
}

// SendElement serializes e and queues it.
func (c *Client) SendElement(ctx context.Context, e *xml.Element) error {
	return c.Send(ctx, e.AppendXML(nil))
}

// Connected reports whether the client is connected and bound now.
func (c *Client) Connected() bool { return c.connected.Load() }

// Ready is closed once the first connection is up and bound.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Name returns the component's name.
func (c *Client) Name() string { return c.cfg.Name }

// Run connects and serves until ctx ends, reconnecting with backoff.
// On cancellation it flushes the queue, closes the stream and returns nil
// once its goroutines have ended.
func (c *Client) Run(ctx context.Context) error {
	defer c.queue.Close()
	backoff := c.cfg.MinBackoff
	for {
		start := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if c.cfg.OnDisconnect != nil {
			c.cfg.OnDisconnect(err)
		}
		if errors.Is(err, ErrNotAuthorized) {
			c.log.Error("router refused the handshake", zap.Error(err))
		} else {
			c.log.Warn("router connection ended", zap.Error(err))
		}
		if time.Since(start) > 2*c.cfg.MaxBackoff {
			backoff = c.cfg.MinBackoff
		}
		wait := jitter(backoff)
		backoff = min(2*backoff, c.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// jitter returns a random duration in [0, d), from crypto/rand.
func jitter(d time.Duration) time.Duration {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil || d <= 0 {
		return d
	}
	return time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(d))
}

// session runs one connection: dial, handshake, binds, then reading and
// writing until either fails or ctx ends.
func (c *Client) session(ctx context.Context) error {
	d := net.Dialer{Timeout: c.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dial router: %w", err)
	}
	defer conn.Close()
	r := xml.NewReader(conn, c.cfg.Limits)
	if err := c.handshake(conn, r); err != nil {
		return err
	}

	// The reader runs from here on: bind replies and route presences
	// may arrive in any order.
	replies := make(chan *bindReply, len(c.cfg.Binds))
	readErr := make(chan error, 1)
	var bindsDone atomic.Bool
	go func() { readErr <- c.readLoop(r, replies, &bindsDone) }()

	if err := c.bind(conn, replies, readErr); err != nil {
		conn.Close()
		<-readErr
		return err
	}
	bindsDone.Store(true)
	c.connected.Store(true)
	defer c.connected.Store(false)
	c.readyOnce.Do(func() { close(c.ready) })
	c.log.Info("connected to router")
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect()
	}

	writeErr := make(chan error, 1)
	stop := make(chan struct{})
	go func() { writeErr <- c.writeLoop(conn, stop) }()
	select {
	case err = <-readErr:
		close(stop)
		conn.Close()
		<-writeErr
		return err
	case err = <-writeErr:
		conn.Close()
		<-readErr
		return err
	case <-ctx.Done():
		close(stop)
		if werr := <-writeErr; werr == nil {
			// Flushed: close the stream and wait for the router to close
			// its side, so nothing in flight is cut.
			conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
			conn.Write([]byte(stream.Close))
			conn.SetReadDeadline(time.Now().Add(c.cfg.Timeout))
		} else {
			conn.Close()
		}
		<-readErr
		return nil
	}
}

// handshake opens the stream and authenticates (XEP-0114).
func (c *Client) handshake(conn net.Conn, r *xml.Reader) error {
	conn.SetDeadline(time.Now().Add(c.cfg.Timeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(stream.AppendOpen(nil, stream.Open{NS: stream.NSComponent, To: c.cfg.Name})); err != nil {
		return fmt.Errorf("write stream header: %w", err)
	}
	top, err := r.Next()
	if err != nil {
		return fmt.Errorf("read stream header: %w", err)
	}
	if top.Kind != xml.KindOpen {
		return errors.New("router did not open a stream")
	}
	id := r.Header().Get("id")
	if id == "" {
		return errors.New("router stream header has no id")
	}
	if _, err := conn.Write([]byte("<handshake>" + Handshake(id, c.cfg.Secret) + "</handshake>")); err != nil {
		return fmt.Errorf("write handshake: %w", err)
	}
	top, err = r.Next()
	if err != nil {
		return fmt.Errorf("read handshake reply: %w", err)
	}
	switch {
	case top.Is("handshake"):
		return nil
	case top.Is("stream:error"):
		e := parseStreamError(top)
		if e.Condition == stream.NotAuthorized {
			return fmt.Errorf("%w: %v", ErrNotAuthorized, e)
		}
		return fmt.Errorf("handshake: %w", e)
	}
	return fmt.Errorf("handshake: unexpected <%s/>", top.Name())
}

func parseStreamError(top *xml.Top) *stream.Error {
	el, err := xml.Parse(top.Raw, xml.Scope{Prefixes: []xml.Binding{{Prefix: "stream", URI: xml.NSStream}}})
	if err != nil {
		return &stream.Error{Condition: stream.UndefinedCondition, Text: "unreadable stream error"}
	}
	return stream.ParseError(el)
}

type bindReply struct {
	id  string
	err *stanza.Error
}

// bind requests the configured routes and waits for every answer.
func (c *Client) bind(conn net.Conn, replies <-chan *bindReply, readErr <-chan error) error {
	if len(c.cfg.Binds) == 0 {
		return nil
	}
	var buf []byte
	for i, b := range c.cfg.Binds {
		buf = AppendBindRequest(buf, b, "b"+strconv.Itoa(i))
	}
	conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	if _, err := conn.Write(buf); err != nil {
		return fmt.Errorf("write binds: %w", err)
	}
	conn.SetWriteDeadline(time.Time{})
	timeout := time.NewTimer(c.cfg.Timeout)
	defer timeout.Stop()
	for range c.cfg.Binds {
		select {
		case rep := <-replies:
			if rep.err != nil {
				i, _ := strconv.Atoi(rep.id[1:])
				name := ""
				if i >= 0 && i < len(c.cfg.Binds) {
					name = c.cfg.Binds[i].Name
				}
				return fmt.Errorf("bind %s: %w", name, rep.err)
			}
		case err := <-readErr:
			return fmt.Errorf("waiting for bind replies: %w", err)
		case <-timeout.C:
			return errors.New("router did not answer the binds")
		}
	}
	return nil
}

// readLoop dispatches what the router sends until the stream ends.
func (c *Client) readLoop(r *xml.Reader, replies chan<- *bindReply, bindsDone *atomic.Bool) error {
	for {
		top, err := r.Next()
		if err != nil {
			if e := stream.FromReadError(err); e != nil {
				return fmt.Errorf("router stream: %w", e)
			}
			return fmt.Errorf("read from router: %w", err)
		}
		switch {
		case top.Kind == xml.KindClose:
			return errors.New("router closed the stream")
		case top.Is("stream:error"):
			return fmt.Errorf("router: %w", parseStreamError(top))
		case IsExtension(top):
			if bindsDone.Load() {
				continue // answers to nothing this client asked for
			}
			rep := &bindReply{id: top.Value("id")}
			if top.Value("type") == "error" {
				if el, err := xml.Parse(top.Raw, xml.Scope{}); err == nil {
					rep.err = stanza.ParseError(el)
				}
				if rep.err == nil {
					rep.err = &stanza.Error{Condition: stanza.UndefinedCondition}
				}
			}
			select {
			case replies <- rep:
			default: // more answers than requests: ignore
			}
		case top.Is("presence"):
			if name, up, ok := ParseRoutePresence(top); ok {
				if c.cfg.OnRoute != nil {
					c.cfg.OnRoute(name, up)
				}
				continue
			}
			c.cfg.OnStanza(top)
		default:
			c.cfg.OnStanza(top)
		}
	}
}

// writeLoop writes what is queued in batches until stop, then flushes
// once more and returns nil, or returns the first write error.
func (c *Client) writeLoop(conn net.Conn, stop <-chan struct{}) error {
	var buf []byte
	var stamps []int64
	for {
		select {
		case <-c.queue.Ready():
		case <-stop:
			buf, _ = c.queue.Take(buf, stamps)
			if len(buf) == 0 {
				return nil
			}
			conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
			_, err := conn.Write(buf)
			return err
		}
		buf, stamps = c.queue.Take(buf, stamps)
		if len(buf) == 0 {
			continue
		}
		conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("write to router: %w", err)
		}
	}
}
