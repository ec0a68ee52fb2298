package xml

import (
	"errors"
	"io"
)

// Read buffer sizes. A connection starts small so idle ones cost little,
// the buffer doubles while reads fill it (batches of stanzas) or an
// element needs more room, and it drops back once a large element has
// been consumed.
const (
	initialBufSize = 4 << 10
	batchBufSize   = 64 << 10
)

// NSStream is the namespace of the stream header and stream-level elements.
const NSStream = "http://etherx.jabber.org/streams"

// NSXML is the namespace bound to the predefined "xml" prefix.
const NSXML = "http://www.w3.org/XML/1998/namespace"

// Binding is a namespace prefix declaration.
type Binding struct {
	Prefix, URI string
}

// Scope is the namespace context of the stream: the default namespace
// and the prefixes its header declares. Elements read from the stream
// resolve their namespaces against it.
type Scope struct {
	Default  string
	Prefixes []Binding
}

// URI returns the namespace the stream header binds prefix to.
func (s *Scope) URI(prefix string) (string, bool) {
	for _, b := range s.Prefixes {
		if b.Prefix == prefix {
			return b.URI, true
		}
	}
	return "", false
}

func (s *Scope) lookup(prefix []byte) (string, bool) {
	for _, b := range s.Prefixes {
		if b.Prefix == string(prefix) {
			return b.URI, true
		}
	}
	return "", false
}

// Header is the stream header as read: its name and attributes, owned.
type Header struct {
	Name  string
	Attrs []Attr
	Scope Scope
}

// Get returns the value of the header attribute name ("" when absent).
func (h *Header) Get(name string) string {
	for _, a := range h.Attrs {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// nsDecl is a namespace declaration made inside the current top-level
// element. prefix is empty for a default namespace declaration.
type nsDecl struct {
	prefix, uri span
	ref         bool
	depth       int
	resolved    bool // uriStr holds the namespace, for trees
	uriStr      string
}

// Reader reads an XMPP stream: the header, then top-level elements one at
// a time, then the end of the stream. It enforces Limits and restricted
// XML while scanning, and never buffers more than the limit of the unit
// being read plus one read.
type Reader struct {
	src  io.Reader
	lim  Limits
	tree bool

	buf      []byte
	start    int // absolute index of the unit being scanned
	w        int // end of buffered data
	off      int // scan position, relative to start
	emitted  int // length of the unit returned by the last Next
	read     int64
	eof      bool
	fullRead bool  // the last read filled the buffer
	err      error // sticky

	st    state
	depth int // open elements, the stream root included
	// Marks relative to start.
	tagStart, nameStart, nameEnd int
	colon, colons                int // first colon of the name being scanned, and how many
	nameColon                    int // colon of the element name, -1 when unprefixed
	attrName                     span
	valStart, refStart           int
	textStart, cdataStart        int
	quote                        byte
	attrRef, attrWS              bool
	textRef, textCR              bool
	seenContent                  bool // something other than whitespace came before the root

	tag  []attrSpan // attributes of the start tag being scanned
	open []span     // names of open elements inside the top-level element
	ns   []nsDecl

	header   Header
	fragment bool // parsing one element out of a byte slice (Parse)
	top      Top
	builder  *treeBuilder
}

// NewReader returns a Reader of src with the given limits.
func NewReader(src io.Reader, lim Limits) *Reader {
	return &Reader{src: src, lim: lim.withDefaults(), buf: make([]byte, initialBufSize)}
}

// SetTree makes Next build an Element tree for every top-level element
// (Top.Elem). Routing code leaves it off and works on Top alone.
func (r *Reader) SetTree(on bool) {
	r.tree = on
	if on && r.builder == nil {
		r.builder = &treeBuilder{}
	}
}

// SetLimits changes the limits, for example after authentication.
func (r *Reader) SetLimits(lim Limits) { r.lim = lim.withDefaults() }

// Limits returns the limits in force.
func (r *Reader) Limits() Limits { return r.lim }

// Header returns the stream header read by the last KindOpen.
func (r *Reader) Header() *Header { return &r.header }

// Buffered returns the number of bytes read from the source and not yet
// consumed. After a <starttls/> it must be zero: bytes sent before the TLS
// handshake must not be taken as coming from inside it.
func (r *Reader) Buffered() int { return r.w - r.start - r.emitted }

// InputOffset returns the number of bytes consumed from the stream.
func (r *Reader) InputOffset() int64 { return r.read - int64(r.w-r.start-r.emitted) }

// Reset makes the reader read a new stream from src, dropping buffered
// bytes (used when the transport changes, as after STARTTLS).
func (r *Reader) Reset(src io.Reader) {
	r.src = src
	r.start, r.w, r.emitted = 0, 0, 0
	r.eof = false
	r.read = 0
	r.restart()
}

// Release drops the read buffer when nothing is buffered and the reader
// stands between top-level elements, so that an idle connection holds no
// buffer; the next read allocates a small one again. It invalidates the
// Top returned by the last Next, and reports whether the buffer was
// dropped.
func (r *Reader) Release() bool {
	if r.err != nil || r.w != r.start+r.emitted || r.st != stText || r.depth != 1 {
		return false
	}
	r.buf = nil
	r.start, r.w, r.off, r.emitted = 0, 0, 0, 0
	r.fullRead = false
	r.top.Raw = nil
	r.top.Elem = nil
	r.top.attrs = r.top.attrs[:0]
	return true
}

// Restart makes the reader expect a new stream header on the same
// transport, keeping what is buffered (used after SASL success).
func (r *Reader) Restart() {
	r.start += r.emitted
	r.emitted = 0
	r.restart()
}

func (r *Reader) restart() {
	r.err = nil
	r.off = 0
	r.st = stText
	r.depth = 0
	r.seenContent = false
	r.open = r.open[:0]
	r.ns = r.ns[:0]
	r.tag = r.tag[:0]
	r.header = Header{}
}

// Next returns the next unit of the stream. Errors are sticky: a
// *SyntaxError names the stream error to send; io.EOF follows the
// stream's end tag or a clean end of input between elements;
// io.ErrUnexpectedEOF means the input ended inside a unit.
func (r *Reader) Next() (*Top, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.emitted > 0 {
		r.start += r.emitted
		r.off -= r.emitted
		r.emitted = 0
	}
	for {
		k, err := r.scan()
		if err == nil && k == 0 {
			err = r.checkSize(0)
			if err == nil {
				err = r.fill()
			}
		}
		if err != nil {
			r.err = err
			return nil, err
		}
		if k != 0 {
			if err := r.checkSize(k); err != nil {
				r.err = err
				return nil, err
			}
			r.emitted = r.off
			r.top.Kind = k
			r.top.Raw = r.buf[r.start : r.start+r.off]
			if k == KindClose {
				r.err = io.EOF
			}
			return &r.top, nil
		}
	}
}

// checkSize enforces the size limit of the unit being read, or of the
// unit of kind k just completed.
func (r *Reader) checkSize(k Kind) error {
	max, what := r.lim.MaxElementBytes, "element"
	if k == KindOpen || k == 0 && r.depth == 0 {
		max, what = r.lim.MaxHeaderBytes, "stream header"
	}
	if r.off > max {
		return r.fail(CondPolicyViolation, what+" exceeds the size limit of "+itoa(max)+" bytes")
	}
	return nil
}

// fill reads more input, making room first.
func (r *Reader) fill() error {
	if r.eof {
		if r.fragment {
			return r.fail(CondNotWellFormed, "element is not complete")
		}
		if r.depth <= 1 && r.off == 0 {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	pending := r.w - r.start
	if r.start > 0 {
		copy(r.buf, r.buf[r.start:r.w])
		r.start, r.w = 0, pending
	}
	size := len(r.buf)
	switch {
	case size == 0:
		// Released while idle.
		size = initialBufSize
	case r.w == size:
		max := r.lim.MaxElementBytes
		if r.depth == 0 {
			max = r.lim.MaxHeaderBytes
		}
		size = min(2*size, max+initialBufSize)
		if size <= len(r.buf) {
			// checkSize runs before fill, so this means a logic error:
			// fail the stream rather than loop.
			return r.fail(CondPolicyViolation, "read buffer limit reached")
		}
	case r.fullRead && size < batchBufSize:
		size *= 2
	case pending == 0 && size > batchBufSize:
		size = initialBufSize
	}
	if size != len(r.buf) {
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	for range 100 {
		n, err := r.src.Read(r.buf[r.w:])
		r.w += n
		r.read += int64(n)
		r.fullRead = r.w == len(r.buf)
		switch {
		case err == nil && n == 0:
			continue
		case err == nil:
			return nil
		case errors.Is(err, io.EOF):
			r.eof = true
			if n > 0 {
				return nil
			}
			return r.fill()
		case n > 0:
			// Scan what arrived; the error comes back with the next read.
			return nil
		default:
			return err
		}
	}
	return io.ErrNoProgress
}

func (r *Reader) fail(cond, msg string) error {
	return &SyntaxError{Cond: cond, Msg: msg, Offset: r.read - int64(r.w-r.start) + int64(r.off)}
}

// itoa formats small non-negative numbers without strconv's allocation
// concerns in error paths staying readable.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
