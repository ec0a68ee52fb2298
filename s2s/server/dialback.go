package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// NSDialbackFeature is the stream feature announcing dialback (XEP-0220 §2.4).
const NSDialbackFeature = "urn:xmpp:features:dialback"

// dialbackKeys derives dialback keys as XEP-0185 recommends:
// HMAC-SHA256 keyed with the hex SHA-256 of the secret, over
// "Receiving Originating StreamID", in lower-case hex. Every host of the
// network uses the same secret, so any of them can tell a federated
// server whether a key is genuine.
type dialbackKeys struct {
	hmacKey []byte
}

func newDialbackKeys(secret string) (dialbackKeys, error) {
	if secret == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return dialbackKeys{}, fmt.Errorf("dialback secret: %w", err)
		}
		secret = hex.EncodeToString(b[:])
	}
	sum := sha256.Sum256([]byte(secret))
	return dialbackKeys{hmacKey: []byte(hex.EncodeToString(sum[:]))}, nil
}

// generate returns the key an originating server presents on the stream
// streamID it opened to receiving.
func (k dialbackKeys) generate(receiving, originating, streamID string) string {
	m := hmac.New(sha256.New, k.hmacKey)
	m.Write([]byte(receiving))
	m.Write([]byte{' '})
	m.Write([]byte(originating))
	m.Write([]byte{' '})
	m.Write([]byte(streamID))
	return hex.EncodeToString(m.Sum(nil))
}

// verify reports, in constant time, whether key is the one generate gives.
func (k dialbackKeys) verify(receiving, originating, streamID, key string) bool {
	want := k.generate(receiving, originating, streamID)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(strings.TrimSpace(key))))
}

// dialback is a <db:result/> or <db:verify/> element (XEP-0220 §2.1–2.4).
type dialback struct {
	verify   bool   // db:verify; db:result otherwise
	from, to string // canonical domains
	id       string // stream id (db:verify; echoed in some db:result answers)
	typ      string // "" for a request; valid, invalid or error in an answer
	key      string // the key, for requests
	errCond  string // the stanza error condition of a type='error' answer
}

// isRequest reports whether the element asks for something (no type).
func (d *dialback) isRequest() bool { return d.typ == "" }

// errNotDialback marks an element that is not in the dialback namespace.
var errNotDialback = errors.New("not a dialback element")

// parseDialback reads a top-level element as a dialback element of the
// stream whose namespaces are scope. It returns errNotDialback for any
// other element, and a stream error for a malformed dialback one.
func parseDialback(top *xml.Top, scope *xml.Scope) (*dialback, error) {
	local := string(top.Local())
	if local != "result" && local != "verify" || topNS(top, scope) != stream.NSDialback {
		return nil, errNotDialback
	}
	el, err := xml.Parse(top.Raw, *scope)
	if err != nil {
		return nil, stream.Errorf(stream.NotWellFormed, "unreadable dialback element")
	}
	d := &dialback{verify: local == "verify", id: el.Attr("id"), typ: el.Attr("type")}
	switch d.typ {
	case "", "valid", "invalid", "error":
	default:
		return nil, stream.Errorf(stream.InvalidXML, "dialback type %q", d.typ)
	}
	for _, a := range []struct {
		name string
		p    *string
	}{{"from", &d.from}, {"to", &d.to}} {
		v := el.Attr(a.name)
		canon, err := canonicalDomain(v)
		if err != nil {
			return nil, stream.Errorf(stream.ImproperAddressing, "dialback '%s': %v", a.name, err)
		}
		*a.p = canon
	}
	if d.verify && d.id == "" {
		return nil, stream.Errorf(stream.ImproperAddressing, "db:verify without a stream id")
	}
	if d.typ == "" {
		d.key = strings.TrimSpace(el.Text())
		if d.key == "" || len(d.key) > 512 {
			return nil, stream.Errorf(stream.InvalidXML, "dialback request without a usable key")
		}
	}
	if d.typ == "error" {
		d.errCond = "undefined-condition"
		if e := el.Child("error", ""); e != nil {
			for c := range e.Elements() {
				if c.Local() != "text" {
					d.errCond = c.Local()
					break
				}
			}
		}
	}
	return d, nil
}

// dialbackStreamError is the stream error that answers an element of the
// dialback namespace parseDialback refused.
func dialbackStreamError(top *xml.Top, err error) *stream.Error {
	var se *stream.Error
	if errors.As(err, &se) {
		return se
	}
	return stream.Errorf(stream.UnsupportedStanzaType, "<%s/> is not a dialback element", top.Name())
}

// appendDialback appends a dialback element. key may be empty (answers).
func appendDialback(dst []byte, verify bool, from, to, id, typ, key string) []byte {
	name := "db:result"
	if verify {
		name = "db:verify"
	}
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = appendAttr(dst, "from", from)
	dst = appendAttr(dst, "to", to)
	if id != "" {
		dst = appendAttr(dst, "id", id)
	}
	if typ != "" {
		dst = appendAttr(dst, "type", typ)
	}
	if key == "" {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = xml.AppendEscapedText(dst, key)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// appendDialbackError appends a db:result of type error (XEP-0220 §2.4).
func appendDialbackError(dst []byte, from, to, cond, text string) []byte {
	dst = append(dst, "<db:result"...)
	dst = appendAttr(dst, "from", from)
	dst = appendAttr(dst, "to", to)
	dst = append(dst, " type='error'><error type='cancel'><"...)
	dst = append(dst, cond...)
	dst = append(dst, " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"...)
	if text != "" {
		dst = append(dst, "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>"...)
		dst = xml.AppendEscapedText(dst, text)
		dst = append(dst, "</text>"...)
	}
	return append(dst, "</error></db:result>"...)
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = xml.AppendEscapedAttr(dst, value, '\'')
	return append(dst, '\'')
}

// topNS returns the namespace of a top-level element's name: declared on
// the element itself, else by the stream header.
func topNS(top *xml.Top, scope *xml.Scope) string {
	p := top.Prefix()
	attr := "xmlns"
	if len(p) > 0 {
		attr = "xmlns:" + string(p)
	}
	if top.Has(attr) {
		return top.Value(attr)
	}
	if len(p) == 0 {
		return scope.Default
	}
	uri, _ := scope.URI(string(p))
	return uri
}
