package stanza

import "github.com/kontalk/xmppd/pkg/xml"

// Bounceable reports whether an undeliverable stanza may be answered with
// an error. Errors are never answered (that is how loops start), nor are
// IQ results (RFC 6120 §8.2.3: the requester does not answer them).
func Bounceable(top *xml.Top) bool {
	typ, _ := top.Attr("type")
	switch string(typ) {
	case "error":
		return false
	case "result":
		return !top.Is("iq")
	}
	return top.Is("message") || top.Is("presence") || top.Is("iq")
}

// AppendBounce appends to dst the error reply to the stanza top: the same
// element name and id, to and from swapped, type='error' and the error.
// The original payload is not returned: the sender has it, and it may be
// large. The caller checks Bounceable first.
func AppendBounce(dst []byte, top *xml.Top, e *Error) []byte {
	dst = append(dst, '<')
	dst = append(dst, top.Name()...)
	if v, ok := top.Attr("from"); ok {
		dst = append(dst, " to='"...)
		dst = appendRaw(dst, v)
	}
	if v, ok := top.Attr("to"); ok {
		dst = append(dst, " from='"...)
		dst = appendRaw(dst, v)
	}
	if v, ok := top.Attr("id"); ok {
		dst = append(dst, " id='"...)
		dst = appendRaw(dst, v)
	}
	dst = append(dst, " type='error'>"...)
	dst = e.AppendXML(dst)
	dst = append(dst, "</"...)
	dst = append(dst, top.Name()...)
	return append(dst, '>')
}

// appendRaw copies an attribute value as written into a single-quoted
// attribute; a value written with double quotes may hold a bare "'".
func appendRaw(dst, v []byte) []byte {
	for _, c := range v {
		if c == '\'' {
			dst = append(dst, "&apos;"...)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, '\'')
}
