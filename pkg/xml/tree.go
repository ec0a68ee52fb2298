package xml

import (
	"bytes"
	"fmt"
)

// treeBuilder turns the scanner's tags and text into an Element tree.
type treeBuilder struct {
	stack []*Element
	root  *Element
}

func (t *treeBuilder) reset() {
	clear(t.stack)
	t.stack = t.stack[:0]
	t.root = nil
}

func (t *treeBuilder) start(r *Reader, b []byte, name span, attrs []attrSpan) {
	e := &Element{Name: string(b[name.lo:name.hi]), Space: r.resolve(b, b[name.lo:name.hi])}
	if len(attrs) > 0 {
		e.Attrs = make([]Attr, len(attrs))
		for i, a := range attrs {
			v := b[a.val.lo:a.val.hi]
			val := ""
			if a.ref || a.ws {
				val = string(appendUnescaped(nil, v, true))
			} else {
				val = string(v)
			}
			e.Attrs[i] = Attr{Name: string(b[a.name.lo:a.name.hi]), Value: val}
		}
	}
	if n := len(t.stack); n > 0 {
		p := t.stack[n-1]
		p.Children = append(p.Children, e)
	} else {
		t.root = e
	}
	t.stack = append(t.stack, e)
}

func (t *treeBuilder) end() {
	t.stack[len(t.stack)-1] = nil
	t.stack = t.stack[:len(t.stack)-1]
}

func (t *treeBuilder) text(raw []byte, ref, cr bool) {
	if len(raw) == 0 || len(t.stack) == 0 {
		return
	}
	var s Text
	if ref || cr {
		s = Text(appendUnescaped(nil, raw, false))
	} else {
		s = Text(raw)
	}
	p := t.stack[len(t.stack)-1]
	// Text split by a CDATA section is one run of character data.
	if n := len(p.Children); n > 0 {
		if prev, ok := p.Children[n-1].(Text); ok {
			p.Children[n-1] = prev + s
			return
		}
	}
	p.Children = append(p.Children, s)
}

// resolve returns the namespace of the qualified element name qname.
func (r *Reader) resolve(b, qname []byte) string {
	var prefix []byte
	if c := bytes.IndexByte(qname, ':'); c >= 0 {
		prefix = qname[:c]
	}
	for k := len(r.ns) - 1; k >= 0; k-- {
		d := &r.ns[k]
		if bytes.Equal(b[d.prefix.lo:d.prefix.hi], prefix) {
			if !d.resolved {
				v := b[d.uri.lo:d.uri.hi]
				if d.ref {
					d.uriStr = string(appendUnescaped(nil, v, true))
				} else {
					d.uriStr = string(v)
				}
				d.resolved = true
			}
			return d.uriStr
		}
	}
	switch {
	case prefix == nil:
		return r.header.Scope.Default
	case string(prefix) == "xml":
		return NSXML
	}
	uri, _ := r.header.Scope.lookup(prefix)
	return uri
}

// Parse reads one element from raw, resolving namespaces it does not
// declare itself against scope (the stream it came from: typically
// Reader.Header().Scope). Whitespace may surround the element; anything
// else is an error. The default limits apply, except the size limit.
func Parse(raw []byte, scope Scope) (*Element, error) {
	top, err := parseOne(raw, scope, true)
	if err != nil {
		return nil, err
	}
	return top.Elem, nil
}

// parseOne reads the single element of raw, with or without a tree.
func parseOne(raw []byte, scope Scope, tree bool) (*Top, error) {
	lim := Limits{MaxElementBytes: len(raw) + 1, MaxTextBytes: len(raw) + 1, MaxAttrBytes: len(raw) + 1}
	r := &Reader{lim: lim.withDefaults(), buf: raw, w: len(raw), eof: true, depth: 1, fragment: true}
	if tree {
		r.SetTree(true)
	}
	r.header.Scope = scope
	top, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("parse element: %w", err)
	}
	if top.Kind != KindElement {
		return nil, fmt.Errorf("parse element: found %v", top.Kind)
	}
	if len(bytes.TrimSpace(raw[r.start+r.emitted:])) != 0 {
		return nil, fmt.Errorf("parse element: %w", &SyntaxError{Cond: CondNotWellFormed, Msg: "content after the element", Offset: int64(r.start + r.emitted)})
	}
	return top, nil
}

// ParseTop reads one element from raw like Parse, but returns only its
// Top (raw bytes and start-tag attributes), building no tree: for a
// stanza whose bytes were rewritten and must be routed again.
func ParseTop(raw []byte, scope Scope) (*Top, error) { return parseOne(raw, scope, false) }

// MustParse parses a literal element with a default namespace, for
// constants in code and tests; it panics on malformed input, so it is not
// for data from peers.
func MustParse(s, defaultNS string) *Element {
	e, err := Parse([]byte(s), Scope{Default: defaultNS})
	if err != nil {
		panic(err)
	}
	return e
}
