package core

import (
	"bytes"
	"time"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Namespaces used by several features.
const (
	NSDelay    = "urn:xmpp:delay"
	NSPubkey   = "urn:xmpp:pubkey:2"
	NSBlocking = "urn:xmpp:blocking"
	// NSBlockingErrors qualifies errors caused by the sender's own
	// blocking list (XEP-0191 §3.5).
	NSBlockingErrors = "urn:xmpp:blocking:errors"
)

// StampLayout is the XEP-0082 date-time with milliseconds, which
// Kontalk clients parse in delay stamps.
const StampLayout = "2006-01-02T15:04:05.000Z"

// Readdress returns the stanza's bytes with 'to' set, for a client: the
// payload is copied as it is. A declaration of the server or component
// namespace on the stanza is dropped, as the client's stream is
// jabber:client.
func Readdress(top *xml.Top, to string) []byte {
	if ns := top.Value("xmlns"); ns == stream.NSServer || ns == stream.NSComponent {
		if t, err := xml.ParseTop(top.AppendWithoutAttr(nil, "xmlns"), xml.Scope{Default: ns}); err == nil {
			top = t
		}
	}
	return top.AppendWithAttr(nil, "to", to)
}

// InsertChild returns the element raw with child added as its last
// child; raw is a complete element, as a Top's bytes are.
func InsertChild(raw, child []byte) []byte {
	out := make([]byte, 0, len(raw)+len(child)+16)
	if bytes.HasSuffix(raw, []byte("/>")) {
		// Self-closing: open it and close it after the child.
		end := 1
		for end < len(raw) && !isNameEnd(raw[end]) {
			end++
		}
		out = append(out, raw[:len(raw)-2]...)
		out = append(out, '>')
		out = append(out, child...)
		out = append(out, "</"...)
		out = append(out, raw[1:end]...)
		return append(out, '>')
	}
	i := bytes.LastIndex(raw, []byte("</"))
	if i < 0 {
		return append(out, raw...)
	}
	out = append(out, raw[:i]...)
	out = append(out, child...)
	return append(out, raw[i:]...)
}

func isNameEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' || c == '>'
}

// AppendDelay appends a urn:xmpp:delay element (XEP-0203).
func AppendDelay(dst []byte, from string, stamp time.Time, text string) []byte {
	dst = append(dst, "<delay xmlns='"+NSDelay+"'"...)
	if from != "" {
		dst = append(dst, " from='"...)
		dst = xml.AppendEscapedAttr(dst, from, '\'')
		dst = append(dst, '\'')
	}
	dst = append(dst, " stamp='"...)
	dst = stamp.UTC().AppendFormat(dst, StampLayout)
	if text == "" {
		return append(dst, "'/>"...)
	}
	dst = append(dst, "'>"...)
	dst = xml.AppendEscapedText(dst, text)
	return append(dst, "</delay>"...)
}

// AppendIQ appends an IQ with an optional payload.
func AppendIQ(dst []byte, typ, id, from, to string, payload *xml.Element) []byte {
	dst = append(dst, "<iq type='"...)
	dst = xml.AppendEscapedAttr(dst, typ, '\'')
	dst = append(dst, '\'')
	dst = appendAttr(dst, "id", id)
	dst = appendAttr(dst, "from", from)
	dst = appendAttr(dst, "to", to)
	if payload == nil {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = payload.AppendXML(dst)
	return append(dst, "</iq>"...)
}

// AppendError appends the error reply to st from the address from: the
// same element and id, to st's sender, with the error. The original
// payload is not returned.
func AppendError(dst []byte, st *Stanza, from string, e *stanza.Error) []byte {
	return AppendErrorRaw(dst, st, from, e.AppendXML(nil))
}

// AppendErrorRaw is AppendError with the <error/> element given as
// bytes, for errors with an application condition.
func AppendErrorRaw(dst []byte, st *Stanza, from string, errorElement []byte) []byte {
	dst = append(dst, '<')
	dst = append(dst, st.Name...)
	dst = appendAttr(dst, "from", from)
	if st.HasFrom {
		dst = appendAttr(dst, "to", st.From.String())
	}
	dst = appendAttr(dst, "id", st.ID)
	dst = append(dst, " type='error'>"...)
	dst = append(dst, errorElement...)
	dst = append(dst, "</"...)
	dst = append(dst, st.Name...)
	return append(dst, '>')
}

// AppendPresence appends a presence with optional type and payload.
func AppendPresence(dst []byte, typ, id, from, to string, payload []byte) []byte {
	dst = append(dst, "<presence"...)
	dst = appendAttr(dst, "type", typ)
	dst = appendAttr(dst, "id", id)
	dst = appendAttr(dst, "from", from)
	dst = appendAttr(dst, "to", to)
	if len(payload) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = append(dst, payload...)
	return append(dst, "</presence>"...)
}

func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = xml.AppendEscapedAttr(dst, value, '\'')
	return append(dst, '\'')
}

// ParseRaw reads bytes sm built (or stored) back into a Top.
func ParseRaw(raw []byte) (*xml.Top, error) {
	return xml.ParseTop(raw, xml.Scope{Default: stream.NSClient})
}

// BlockedError is the <error/> for a stanza to an entity the sender
// blocked: not-acceptable with XEP-0191's application condition.
func BlockedError() []byte {
	return []byte("<error type='cancel'><not-acceptable xmlns='" + stanza.NSStanzas + "'/><blocked xmlns='" + NSBlockingErrors + "'/>" +
		"<text xmlns='" + stanza.NSStanzas + "'>You have blocked this contact.</text></error>")
}
