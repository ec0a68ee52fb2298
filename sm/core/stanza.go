package core

import (
	"errors"
	"fmt"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Stanza is a stanza being handled: its bytes and start tag (Top), its
// tree (El), and its addresses parsed once.
type Stanza struct {
	Top *xml.Top
	El  *xml.Element
	// Name is message, presence or iq.
	Name string
	Type string
	ID   string
	// From and To are zero when absent (HasFrom, HasTo).
	From, To       jid.JID
	HasFrom, HasTo bool
}

// ErrNotStanza is returned for a top-level element that is no stanza.
var ErrNotStanza = errors.New("not a stanza")

// ParseStanza builds the view of top, whose bytes it keeps; defaultNS is
// the namespace the bytes are in when they declare none (jabber:client
// for a client's stanza, jabber:component:accept from the router). A
// malformed address is a *JIDError.
func ParseStanza(top *xml.Top, defaultNS string) (*Stanza, error) {
	name := string(top.Name())
	switch name {
	case "message", "presence", "iq":
	default:
		return nil, fmt.Errorf("<%s/>: %w", name, ErrNotStanza)
	}
	el, err := xml.Parse(top.Raw, xml.Scope{Default: defaultNS})
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	s := &Stanza{Top: top, El: el, Name: name, Type: el.Attr("type"), ID: el.Attr("id")}
	if v, ok := el.Lookup("from"); ok {
		if s.From, err = jid.Parse(v); err != nil {
			return nil, &JIDError{Attr: "from", Err: err}
		}
		s.HasFrom = true
	}
	if v, ok := el.Lookup("to"); ok {
		if s.To, err = jid.Parse(v); err != nil {
			return nil, &JIDError{Attr: "to", Err: err}
		}
		s.HasTo = true
	}
	return s, nil
}

// JIDError is a malformed address in a stanza.
type JIDError struct {
	Attr string
	Err  error
}

func (e *JIDError) Error() string { return "malformed '" + e.Attr + "': " + e.Err.Error() }
func (e *JIDError) Unwrap() error { return e.Err }

// IsStanzaNS reports whether ns is one of the namespaces stanzas and
// their standard children (body, status, error) are in.
func IsStanzaNS(ns string) bool {
	return ns == stream.NSClient || ns == stream.NSServer || ns == stream.NSComponent
}

// Child returns the direct child named local in the stanza's own
// namespace (body, subject, show, priority, status), or nil.
func (s *Stanza) Child(local string) *xml.Element {
	for c := range s.El.ChildrenNamed(local, "") {
		if IsStanzaNS(c.Space) {
			return c
		}
	}
	return nil
}

// Payload returns the first child element that is not an error: an IQ's
// query.
func (s *Stanza) Payload() *xml.Element {
	for c := range s.El.Elements() {
		if c.Local() == "error" && IsStanzaNS(c.Space) {
			continue
		}
		return c
	}
	return nil
}

// BareFrom returns the bare form of From.
func (s *Stanza) BareFrom() string { return s.From.Bare().String() }

// IsRequest reports an IQ get or set, which is always answered.
func (s *Stanza) IsRequest() bool {
	return s.Name == "iq" && (s.Type == "get" || s.Type == "set")
}
