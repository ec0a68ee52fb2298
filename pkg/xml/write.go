package xml

import (
	"io"
	"unicode/utf8"
)

// AppendXML appends e serialized to dst. Attributes are written in order
// as they are, with single quotes; an element without children is written
// self-closing.
func (e *Element) AppendXML(dst []byte) []byte {
	dst = append(dst, '<')
	dst = append(dst, e.Name...)
	for _, a := range e.Attrs {
		dst = append(dst, ' ')
		dst = append(dst, a.Name...)
		dst = append(dst, '=', '\'')
		dst = AppendEscapedAttr(dst, a.Value, '\'')
		dst = append(dst, '\'')
	}
	if len(e.Children) == 0 {
		return append(dst, '/', '>')
	}
	dst = append(dst, '>')
	for _, c := range e.Children {
		dst = c.appendXML(dst)
	}
	dst = append(dst, '<', '/')
	dst = append(dst, e.Name...)
	return append(dst, '>')
}

func (e *Element) appendXML(dst []byte) []byte { return e.AppendXML(dst) }

func (t Text) appendXML(dst []byte) []byte { return AppendEscapedText(dst, string(t)) }

// WriteTo writes e serialized to w.
func (e *Element) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(e.AppendXML(nil))
	return int64(n), err
}

// textSpecial and attrSpecial mark the bytes the escaping loops must
// look at; every other byte is copied as it is.
var textSpecial, attrSpecial = func() (t, a [256]bool) {
	for i := range 256 {
		c := byte(i)
		special := c < 0x20 || c >= 0x80 || c == '<' || c == '&'
		t[i] = special && c != '\t' && c != '\n' || c == '>'
		a[i] = special || c == '\'' || c == '"'
	}
	return t, a
}()

// AppendEscapedText appends s escaped as character data. Invalid UTF-8
// and characters XML forbids are replaced by U+FFFD so the output is
// always well-formed.
func AppendEscapedText(dst []byte, s string) []byte {
	return appendEscaped(dst, s, &textSpecial, 0)
}

// AppendEscapedAttr appends s escaped for an attribute value quoted with
// quote (' or "). Whitespace other than spaces is written as character
// references so that it survives attribute value normalization.
func AppendEscapedAttr(dst []byte, s string, quote byte) []byte {
	return appendEscaped(dst, s, &attrSpecial, quote)
}

// appendEscaped copies s to dst, escaping the bytes special marks; quote
// is the attribute's quote, or 0 for character data.
func appendEscaped(dst []byte, s string, special *[256]bool, quote byte) []byte {
	last := 0
	for i := 0; i < len(s); {
		for i < len(s) && !special[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		var esc string
		size := 1
		switch {
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '&':
			esc = "&amp;"
		case c == quote && c == '\'':
			esc = "&apos;"
		case c == quote && c == '"':
			esc = "&quot;"
		case c == '\t':
			esc = "&#x9;"
		case c == '\n':
			esc = "&#xA;"
		case c == '\r':
			esc = "&#xD;"
		case c < 0x20:
			esc = "\uFFFD"
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			size = n
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				esc = "\uFFFD"
			}
		default:
			// A quote character inside a value quoted with the other one.
		}
		if esc == "" {
			i += size
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		i += size
		last = i
	}
	return append(dst, s[last:]...)
}

// appendUnescaped appends src with references resolved and line ends
// normalized (XML 1.0 §2.11); in attribute values (attr) literal
// whitespace becomes a space (§3.3.3). src has been validated by the
// scanner, so every '&' starts a well-formed reference.
func appendUnescaped(dst, src []byte, attr bool) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '&':
			j := i + 1
			for j < len(src) && src[j] != ';' {
				j++
			}
			ref := src[i+1 : j]
			i = j
			switch string(ref) {
			case "lt":
				dst = append(dst, '<')
			case "gt":
				dst = append(dst, '>')
			case "amp":
				dst = append(dst, '&')
			case "apos":
				dst = append(dst, '\'')
			case "quot":
				dst = append(dst, '"')
			default:
				if len(ref) > 1 && ref[0] == '#' {
					if r, ok := parseCharRef(ref[1:]); ok {
						dst = utf8.AppendRune(dst, r)
					}
				}
			}
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			if attr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, '\n')
			}
		case '\t', '\n':
			if attr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, c)
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
