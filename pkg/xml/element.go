package xml

import (
	"iter"
	"strings"
)

// Attr is an attribute as written: Name keeps its prefix ("xml:lang",
// "xmlns:foo"), Value is unescaped.
type Attr struct {
	Name, Value string
}

// Node is a child of an Element: *Element or Text.
type Node interface {
	appendXML(dst []byte) []byte
}

// Text is character data, unescaped. CDATA sections read from a stream
// become Text; they mean the same.
type Text string

// Element is an XML element with everything a peer wrote in it: the
// qualified name as written, its attributes in order (namespace
// declarations included) and its children in order, text included.
// Space is the element's namespace, resolved when it was read or given
// to New; serialization writes Attrs, so Space and the xmlns attributes
// must agree (New and SetNamespace keep them so).
type Element struct {
	Name     string
	Space    string
	Attrs    []Attr
	Children []Node
}

// New returns an element named local in namespace ns, declaring ns
// with an xmlns attribute when it is not empty.
func New(local, ns string, attrs ...Attr) *Element {
	e := &Element{Name: local, Space: ns}
	if ns != "" {
		e.Attrs = make([]Attr, 0, 1+len(attrs))
		e.Attrs = append(e.Attrs, Attr{Name: "xmlns", Value: ns})
	}
	e.Attrs = append(e.Attrs, attrs...)
	return e
}

// Local returns the element's name without its prefix.
func (e *Element) Local() string {
	if i := strings.IndexByte(e.Name, ':'); i >= 0 {
		return e.Name[i+1:]
	}
	return e.Name
}

// Attr returns the value of the attribute named name ("" when absent).
func (e *Element) Attr(name string) string {
	v, _ := e.Lookup(name)
	return v
}

// Has reports whether the attribute named name is present.
func (e *Element) Has(name string) bool {
	_, ok := e.Lookup(name)
	return ok
}

// Lookup returns the value of the attribute named name and whether it
// is present.
func (e *Element) Lookup(name string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// SetAttr sets the attribute named name, adding it when absent, and
// returns e for chaining.
func (e *Element) SetAttr(name, value string) *Element {
	for i := range e.Attrs {
		if e.Attrs[i].Name == name {
			e.Attrs[i].Value = value
			return e
		}
	}
	e.Attrs = append(e.Attrs, Attr{Name: name, Value: value})
	return e
}

// RemoveAttr removes the attribute named name.
func (e *Element) RemoveAttr(name string) {
	for i := range e.Attrs {
		if e.Attrs[i].Name == name {
			e.Attrs = append(e.Attrs[:i], e.Attrs[i+1:]...)
			return
		}
	}
}

// Append adds children and returns e for chaining.
func (e *Element) Append(children ...Node) *Element {
	e.Children = append(e.Children, children...)
	return e
}

// AppendText adds character data and returns e for chaining.
func (e *Element) AppendText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, Text(s))
	}
	return e
}

// Elements yields the child elements in order.
func (e *Element) Elements() iter.Seq[*Element] {
	return func(yield func(*Element) bool) {
		for _, c := range e.Children {
			if c, ok := c.(*Element); ok && !yield(c) {
				return
			}
		}
	}
}

// ChildrenNamed yields the child elements with the local name and
// namespace given; an empty ns matches any namespace.
func (e *Element) ChildrenNamed(local, ns string) iter.Seq[*Element] {
	return func(yield func(*Element) bool) {
		for c := range e.Elements() {
			if c.Local() == local && (ns == "" || c.Space == ns) && !yield(c) {
				return
			}
		}
	}
}

// Child returns the first child element with the local name and
// namespace given (any namespace when ns is empty), or nil.
func (e *Element) Child(local, ns string) *Element {
	for c := range e.ChildrenNamed(local, ns) {
		return c
	}
	return nil
}

// ChildNS returns the first child element in namespace ns, whatever its
// name, or nil: the payload of an IQ, for example.
func (e *Element) ChildNS(ns string) *Element {
	for c := range e.Elements() {
		if c.Space == ns {
			return c
		}
	}
	return nil
}

// RemoveChildren removes the child elements for which drop returns true.
func (e *Element) RemoveChildren(drop func(*Element) bool) {
	kept := e.Children[:0]
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok && drop(ce) {
			continue
		}
		kept = append(kept, c)
	}
	clear(e.Children[len(kept):])
	e.Children = kept
}

// Text returns the concatenated character data of e's direct children.
func (e *Element) Text() string {
	var n int
	var only Text
	for _, c := range e.Children {
		if t, ok := c.(Text); ok {
			n++
			only = t
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return string(only)
	}
	var b strings.Builder
	for _, c := range e.Children {
		if t, ok := c.(Text); ok {
			b.WriteString(string(t))
		}
	}
	return b.String()
}

// Copy returns a deep copy of e.
func (e *Element) Copy() *Element {
	c := &Element{Name: e.Name, Space: e.Space}
	if e.Attrs != nil {
		c.Attrs = append([]Attr(nil), e.Attrs...)
	}
	if e.Children != nil {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			if ce, ok := n.(*Element); ok {
				n = ce.Copy()
			}
			c.Children[i] = n
		}
	}
	return c
}

// String returns e serialized.
func (e *Element) String() string { return string(e.AppendXML(nil)) }
