// Package stream writes XMPP stream headers and stream errors (RFC 6120
// §4.7, §4.9) and turns reading errors into the stream error to answer.
package stream

import (
	"errors"
	"fmt"

	"github.com/kontalk/xmppd/pkg/xml"
)

// Namespaces of the streams the servers speak.
const (
	NSClient    = "jabber:client"
	NSServer    = "jabber:server"
	NSComponent = "jabber:component:accept"
	NSStreams   = "urn:ietf:params:xml:ns:xmpp-streams"
	NSDialback  = "jabber:server:dialback"
)

// Open is a stream header to write.
type Open struct {
	NS      string // default namespace (jabber:client, jabber:component:accept, ...)
	To      string
	From    string
	ID      string
	Version string // "1.0" for RFC 6120 streams; empty for XEP-0114
	Lang    string
	// Prefixes declared besides stream, e.g. db for dialback.
	Prefixes []xml.Binding
}

// AppendOpen appends the XML declaration and the stream header.
func AppendOpen(dst []byte, o Open) []byte {
	dst = append(dst, "<?xml version='1.0'?><stream:stream xmlns='"...)
	dst = xml.AppendEscapedAttr(dst, o.NS, '\'')
	dst = append(dst, "' xmlns:stream='"+xml.NSStream+"'"...)
	for _, p := range o.Prefixes {
		dst = appendAttr(dst, "xmlns:"+p.Prefix, p.URI)
	}
	dst = appendAttr(dst, "to", o.To)
	dst = appendAttr(dst, "from", o.From)
	dst = appendAttr(dst, "id", o.ID)
	dst = appendAttr(dst, "version", o.Version)
	dst = appendAttr(dst, "xml:lang", o.Lang)
	return append(dst, '>')
}

func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=', '\'')
	dst = xml.AppendEscapedAttr(dst, value, '\'')
	return append(dst, '\'')
}

// Close is the end of a stream.
const Close = "</stream:stream>"

// Condition is a stream error condition (RFC 6120 §4.9.3).
type Condition string

// Stream error conditions.
const (
	BadFormat              Condition = "bad-format"
	BadNamespacePrefix     Condition = "bad-namespace-prefix"
	Conflict               Condition = "conflict"
	ConnectionTimeout      Condition = "connection-timeout"
	HostGone               Condition = "host-gone"
	HostUnknown            Condition = "host-unknown"
	ImproperAddressing     Condition = "improper-addressing"
	InternalServerError    Condition = "internal-server-error"
	InvalidFrom            Condition = "invalid-from"
	InvalidNamespace       Condition = "invalid-namespace"
	InvalidXML             Condition = "invalid-xml"
	NotAuthorized          Condition = "not-authorized"
	NotWellFormed          Condition = "not-well-formed"
	PolicyViolation        Condition = "policy-violation"
	RemoteConnectionFailed Condition = "remote-connection-failed"
	Reset                  Condition = "reset"
	ResourceConstraint     Condition = "resource-constraint"
	RestrictedXML          Condition = "restricted-xml"
	SeeOtherHost           Condition = "see-other-host"
	SystemShutdown         Condition = "system-shutdown"
	UndefinedCondition     Condition = "undefined-condition"
	UnsupportedEncoding    Condition = "unsupported-encoding"
	UnsupportedFeature     Condition = "unsupported-feature"
	UnsupportedStanzaType  Condition = "unsupported-stanza-type"
	UnsupportedVersion     Condition = "unsupported-version"
)

// Error is a stream error: the condition and a text naming the cause.
type Error struct {
	Condition Condition
	Text      string
}

// Errorf returns a stream error with a formatted text.
func Errorf(c Condition, format string, args ...any) *Error {
	return &Error{Condition: c, Text: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Text == "" {
		return "stream error: " + string(e.Condition)
	}
	return "stream error: " + string(e.Condition) + ": " + e.Text
}

// AppendXML appends <stream:error/> for e.
func (e *Error) AppendXML(dst []byte) []byte {
	dst = append(dst, "<stream:error><"...)
	dst = append(dst, e.Condition...)
	dst = append(dst, " xmlns='"+NSStreams+"'/>"...)
	if e.Text != "" {
		dst = append(dst, "<text xmlns='"+NSStreams+"'>"...)
		dst = xml.AppendEscapedText(dst, e.Text)
		dst = append(dst, "</text>"...)
	}
	return append(dst, "</stream:error>"...)
}

// FromReadError returns the stream error that answers err, returned by
// xml.Reader.Next, or nil when the stream ended or the transport failed
// (io.EOF, io.ErrUnexpectedEOF, network errors: nothing can or needs to
// be sent then).
func FromReadError(err error) *Error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &Error{Condition: Condition(se.Cond), Text: se.Msg}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// ParseError reads a received <stream:error/>.
func ParseError(el *xml.Element) *Error {
	e := &Error{Condition: UndefinedCondition}
	for c := range el.Elements() {
		if c.Space != NSStreams {
			continue
		}
		if c.Local() == "text" {
			e.Text = c.Text()
		} else {
			e.Condition = Condition(c.Local())
		}
	}
	return e
}
