package xml

import "bytes"

// Kind says what a Top is.
type Kind uint8

const (
	// KindOpen is the stream header: a start tag that stays open.
	KindOpen Kind = iota + 1
	// KindElement is a complete top-level element: a stanza or a nonza.
	KindElement
	// KindClose is the end tag of the stream.
	KindClose
)

func (k Kind) String() string {
	switch k {
	case KindOpen:
		return "open"
	case KindElement:
		return "element"
	case KindClose:
		return "close"
	}
	return "unknown"
}

// span is a byte range [lo, hi) relative to the start of Top.Raw.
type span struct{ lo, hi int32 }

type attrSpan struct {
	name, val span
	colon     int32 // position of the colon in the name, -1 when unprefixed
	ref       bool  // the value holds an entity or character reference
	ws        bool  // the value holds a literal tab, newline or carriage return
}

// Top is a unit read from a stream: the stream header, a top-level element
// or the stream's end tag. Raw holds its bytes exactly as the peer sent
// them; the accessors read the attributes of its start tag without
// parsing anything else. A Top and its Raw are valid until the next call
// to Reader.Next; Clone keeps one longer.
type Top struct {
	Kind Kind
	Raw  []byte
	// StreamPrefix reports that the content of the element uses a
	// namespace prefix declared only on the stream header. Such bytes
	// mean something else on another stream, so they must not be
	// forwarded as they are.
	StreamPrefix bool
	// Elem is the element as a tree, when the Reader builds trees.
	Elem *Element

	name       span
	attrs      []attrSpan
	innerStart int32 // end of the start tag
	innerEnd   int32 // start of the end tag (== innerStart when self-closing)
}

// Name returns the qualified name as written, e.g. "message" or "stream:error".
func (t *Top) Name() []byte { return t.Raw[t.name.lo:t.name.hi] }

// Local returns the name without its prefix.
func (t *Top) Local() []byte {
	n := t.Name()
	if i := bytes.IndexByte(n, ':'); i >= 0 {
		return n[i+1:]
	}
	return n
}

// Prefix returns the name's prefix, empty when there is none.
func (t *Top) Prefix() []byte {
	n := t.Name()
	if i := bytes.IndexByte(n, ':'); i >= 0 {
		return n[:i]
	}
	return nil
}

// Is reports whether the qualified name equals name, without allocating.
func (t *Top) Is(name string) bool { return string(t.Name()) == name }

// NumAttrs returns the number of attributes of the start tag.
func (t *Top) NumAttrs() int { return len(t.attrs) }

// AttrAt returns the i-th attribute's name and value as written (escaped).
func (t *Top) AttrAt(i int) (name, raw []byte) {
	a := t.attrs[i]
	return t.Raw[a.name.lo:a.name.hi], t.Raw[a.val.lo:a.val.hi]
}

func (t *Top) find(name string) int {
	for i, a := range t.attrs {
		if string(t.Raw[a.name.lo:a.name.hi]) == name {
			return i
		}
	}
	return -1
}

// Has reports whether the start tag carries the attribute.
func (t *Top) Has(name string) bool { return t.find(name) >= 0 }

// Attr returns the attribute's value as written, with references left
// escaped, and whether it is present. It does not allocate.
func (t *Top) Attr(name string) ([]byte, bool) {
	i := t.find(name)
	if i < 0 {
		return nil, false
	}
	a := t.attrs[i]
	return t.Raw[a.val.lo:a.val.hi], true
}

// AppendValue appends the attribute's value, unescaped and normalized as
// XML requires, to dst. Without references in the value (the usual case)
// it only copies.
func (t *Top) AppendValue(dst []byte, name string) ([]byte, bool) {
	i := t.find(name)
	if i < 0 {
		return dst, false
	}
	a := t.attrs[i]
	v := t.Raw[a.val.lo:a.val.hi]
	if !a.ref && !a.ws {
		return append(dst, v...), true
	}
	return appendUnescaped(dst, v, true), true
}

// Value returns the attribute's unescaped value, or "" when absent.
func (t *Top) Value(name string) string {
	i := t.find(name)
	if i < 0 {
		return ""
	}
	a := t.attrs[i]
	v := t.Raw[a.val.lo:a.val.hi]
	if !a.ref && !a.ws {
		return string(v)
	}
	return string(appendUnescaped(nil, v, true))
}

// Inner returns the bytes between the start and the end tag: the
// element's content as written. It is empty for a self-closing element.
func (t *Top) Inner() []byte { return t.Raw[t.innerStart:t.innerEnd] }

// SelfClosing reports whether the element was written as <name .../>.
func (t *Top) SelfClosing() bool { return t.Kind == KindElement && t.innerEnd == int32(len(t.Raw)) }

// AppendWithAttr appends to dst the element's raw bytes with the attribute
// name set to value (escaped), replacing the value in place or adding the
// attribute after the name. The content is copied untouched, so a stanza
// can be re-addressed without being parsed or re-serialized.
func (t *Top) AppendWithAttr(dst []byte, name, value string) []byte {
	if i := t.find(name); i >= 0 {
		a := t.attrs[i]
		q := t.Raw[a.val.lo-1]
		dst = append(dst, t.Raw[:a.val.lo]...)
		dst = AppendEscapedAttr(dst, value, q)
		return append(dst, t.Raw[a.val.hi:]...)
	}
	dst = append(dst, t.Raw[:t.name.hi]...)
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = AppendEscapedAttr(dst, value, '\'')
	dst = append(dst, '\'')
	return append(dst, t.Raw[t.name.hi:]...)
}

// AppendWithoutAttr appends to dst the element's raw bytes without the
// attribute name (and the whitespace before it).
func (t *Top) AppendWithoutAttr(dst []byte, name string) []byte {
	i := t.find(name)
	if i < 0 {
		return append(dst, t.Raw...)
	}
	a := t.attrs[i]
	lo := int(a.name.lo)
	for lo > 0 && isSpace(t.Raw[lo-1]) {
		lo--
	}
	dst = append(dst, t.Raw[:lo]...)
	return append(dst, t.Raw[a.val.hi+1:]...)
}

// Clone returns a copy of t that does not share memory with the reader.
func (t *Top) Clone() *Top {
	c := *t
	c.Raw = bytes.Clone(t.Raw)
	c.attrs = append([]attrSpan(nil), t.attrs...)
	return &c
}
