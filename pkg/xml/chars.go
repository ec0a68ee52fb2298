package xml

import "unicode/utf8"

// Byte classes for the hot loops. Everything that is not plain ASCII
// content stops the fast loop and is looked at on its own.
const (
	cPlain = iota // content byte with no special meaning, ' ' included
	cQuote        // '\'' or '"' (ends an attribute value)
	cSpace        // '\t' or '\n' (normalized to ' ' in attribute values)
	cGt           // '>' (checked for "]]>")
	cLt           // '<'
	cAmp          // '&'
	cCR           // '\r' (line ends are normalized in trees)
	cCtl          // a control character XML forbids
	cHigh         // first byte of a multi-byte UTF-8 sequence, or invalid
)

// byteClass is computed at compile time from the rules above; a table
// keeps the content loops to one load and one compare per byte.
var byteClass = func() (t [256]uint8) {
	for i := range t {
		switch {
		case i >= 0x80:
			t[i] = cHigh
		case i == '<':
			t[i] = cLt
		case i == '&':
			t[i] = cAmp
		case i == '>':
			t[i] = cGt
		case i == '\'' || i == '"':
			t[i] = cQuote
		case i == '\t' || i == '\n':
			t[i] = cSpace
		case i == '\r':
			t[i] = cCR
		case i < 0x20:
			t[i] = cCtl
		}
	}
	return t
}()

// nameClass marks ASCII bytes allowed in XML names: 1 = may start a name,
// 2 = may appear after the first byte only, 3 = the colon, which
// separates a prefix (Namespaces in XML) and is tracked by the scanner.
var nameClass = func() (t [128]uint8) {
	for i := range t {
		switch {
		case i == ':':
			t[i] = 3
		case i >= 'a' && i <= 'z', i >= 'A' && i <= 'Z', i == '_':
			t[i] = 1
		case i >= '0' && i <= '9', i == '-', i == '.':
			t[i] = 2
		}
	}
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isXMLChar reports whether r may appear in an XML document (XML 1.0 §2.2).
// utf8.DecodeRune already rejects surrogates and invalid encodings.
func isXMLChar(r rune) bool {
	switch {
	case r < 0x20:
		return r == '\t' || r == '\n' || r == '\r'
	case r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// isNameRune reports whether the non-ASCII rune r may appear in a name,
// first says whether it is the name's first character (XML 1.0 §2.3).
func isNameRune(r rune, first bool) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	case first:
		return false
	case r == 0xB7, r >= 0x300 && r <= 0x36F, r >= 0x203F && r <= 0x2040:
		return true
	}
	return false
}

// decodeRune decodes the UTF-8 sequence at the start of b. ok=false with
// size=0 means b holds only the beginning of a valid sequence.
func decodeRune(b []byte) (r rune, size int, complete bool) {
	if !utf8.FullRune(b) {
		return 0, 0, false
	}
	r, size = utf8.DecodeRune(b)
	return r, size, true
}
