package xml

// Limits bound what a Reader accepts. They are checked while reading, so
// a peer cannot make the reader buffer more than MaxElementBytes (plus
// one read) however it shapes its input. A zero field takes its default.
type Limits struct {
	// MaxElementBytes bounds one top-level element, tags included.
	MaxElementBytes int
	// MaxHeaderBytes bounds the stream header (the opening <stream:stream>).
	MaxHeaderBytes int
	// MaxDepth bounds nesting; a top-level element has depth 1.
	MaxDepth int
	// MaxAttrs bounds the attributes of one element, xmlns ones included.
	MaxAttrs int
	// MaxAttrBytes bounds one attribute value as written.
	MaxAttrBytes int
	// MaxTextBytes bounds one run of character data as written; by
	// default the element limit (a large base64 payload is one run).
	MaxTextBytes int
}

// Defaults used for zero fields. MaxElementBytes follows the c2s limit of
// ARCHITECTURE.md §7 (256 KiB); depth and attribute counts are generous
// for real stanzas and small enough that a hostile peer gains nothing.
const (
	DefaultMaxElementBytes = 256 << 10
	DefaultMaxHeaderBytes  = 4 << 10
	DefaultMaxDepth        = 64
	DefaultMaxAttrs        = 64
	DefaultMaxAttrBytes    = 64 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxElementBytes <= 0 {
		l.MaxElementBytes = DefaultMaxElementBytes
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultMaxAttrs
	}
	if l.MaxAttrBytes <= 0 {
		l.MaxAttrBytes = DefaultMaxAttrBytes
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = l.MaxElementBytes
	}
	return l
}
