package xml

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// state is where the scanner stands between two bytes. Every state can be
// left at any byte and resumed when more input arrives, so a unit split
// across any number of reads costs one pass over its bytes.
type state uint8

const (
	stText      state = iota // character data, or between units
	stRef                    // after '&' in character data
	stLt                     // after '<'
	stBang                   // after "<!"
	stCDATA                  // inside <![CDATA[ ... ]]>
	stPI                     // after "<?"
	stStartName              // in the name of a start tag
	stAfterName              // after a start tag's name or an attribute value
	stTagSpace               // in a start tag after whitespace
	stAttrName               // in an attribute name
	stAttrEq                 // after an attribute name, before '='
	stAttrQuote              // after '=', before the opening quote
	stAttrValue              // inside a quoted attribute value
	stAttrRef                // after '&' in an attribute value
	stEmptyEnd               // after '/' in a start tag
	stEndName                // in the name of an end tag
	stEndSpace               // after an end tag's name, before '>'
)

// maxRefLen bounds an entity or character reference between '&' and ';'
// ("#x10FFFF" is the longest one XML allows).
const maxRefLen = 10

// maxXMLDecl bounds the XML declaration.
const maxXMLDecl = 256

// scan advances over buffered bytes. It returns the kind of unit that
// ends at r.off, 0 when it needs more input, or an error.
func (r *Reader) scan() (Kind, error) {
	b := r.buf[r.start:r.w]
	i := r.off
	for i < len(b) {
		switch r.st {
		case stText:
			if r.depth < 2 {
				n, err := r.scanOutside(b, i)
				if err != nil {
					return 0, err
				}
				b = r.buf[r.start:r.w] // scanOutside moves start
				if n < 0 {
					r.off = 0
					return 0, nil
				}
				i = n
				continue
			}
		text:
			for i < len(b) {
				i = skipPlainText(b, i)
				for i < len(b) && byteClass[b[i]] <= cSpace {
					i++
				}
				if i == len(b) {
					break
				}
				c := b[i]
				switch byteClass[c] {
				case cLt:
					if err := r.endText(b, i); err != nil {
						return 0, err
					}
					r.tagStart = i
					r.st = stLt
					i++
					break text
				case cAmp:
					r.textRef = true
					r.refStart = i
					r.st = stRef
					i++
					break text
				case cGt:
					if i-r.textStart >= 2 && b[i-1] == ']' && b[i-2] == ']' {
						return 0, r.failAt(i, CondNotWellFormed, "']]>' in character data")
					}
					i++
				case cCR:
					r.textCR = true
					i++
				case cCtl:
					return 0, r.badChar(i, rune(c))
				case cHigh:
					n, err := r.rune(b, i)
					if n == 0 {
						return 0, err
					}
					i += n
				}
			}
			if i-r.textStart > r.lim.MaxTextBytes {
				return 0, r.overLimit(i, "character data", r.lim.MaxTextBytes)
			}

		case stRef, stAttrRef:
			j := i
			for j < len(b) && b[j] != ';' && j-r.refStart <= maxRefLen {
				j++
			}
			if j == len(b) {
				r.off = i
				return 0, nil
			}
			if b[j] != ';' {
				return 0, r.failAt(r.refStart, CondNotWellFormed, "'&' does not start a reference")
			}
			if err := r.checkRef(b[r.refStart+1 : j]); err != nil {
				return 0, err
			}
			i = j + 1
			if r.st == stRef {
				r.st = stText
			} else {
				r.st = stAttrValue
			}

		case stLt:
			c := b[i]
			switch {
			case c == '/':
				r.st = stEndName
				i++
				r.nameStart = i
				r.colon, r.colons = -1, 0
			case c == '!':
				r.st = stBang
				i++
			case c == '?':
				r.st = stPI
				i++
			case c < utf8.RuneSelf && nameClass[c] == 1:
				r.st = stStartName
				r.nameStart = i
				r.colon, r.colons = -1, 0
				r.tag = r.tag[:0]
				i++
			case c >= utf8.RuneSelf:
				rn, n, ok := decodeRune(b[i:])
				if !ok {
					r.off = i
					return 0, r.needRune()
				}
				if !isNameRune(rn, true) {
					return 0, r.failAt(i, CondNotWellFormed, "invalid character at the start of a name")
				}
				r.st = stStartName
				r.nameStart = i
				r.colon, r.colons = -1, 0
				r.tag = r.tag[:0]
				i += n
			default:
				return 0, r.failAt(i, CondNotWellFormed, "invalid character after '<'")
			}

		case stBang:
			rest := b[i:]
			switch {
			case bytes.HasPrefix(rest, []byte("--")):
				return 0, r.failAt(i, CondRestrictedXML, "comments are not allowed")
			case bytes.HasPrefix(rest, []byte("[CDATA[")):
				if r.depth < 2 {
					return 0, r.failAt(i, CondNotWellFormed, "CDATA section outside an element")
				}
				i += len("[CDATA[")
				r.cdataStart = i
				r.st = stCDATA
			case bytes.HasPrefix(rest, []byte("DOCTYPE")):
				return 0, r.failAt(i, CondRestrictedXML, "document type declarations are not allowed")
			case isPrefixOfAny(rest, "--", "[CDATA[", "DOCTYPE"):
				r.off = i
				if r.eof {
					return 0, r.fail(CondNotWellFormed, "truncated markup declaration")
				}
				return 0, nil
			default:
				return 0, r.failAt(i, CondRestrictedXML, "markup declarations are not allowed")
			}

		case stCDATA:
			for i < len(b) {
				c := b[i]
				switch byteClass[c] {
				case cGt:
					if i-r.cdataStart >= 2 && b[i-1] == ']' && b[i-2] == ']' {
						if i-2-r.cdataStart > r.lim.MaxTextBytes {
							return 0, r.overLimit(i, "CDATA section", r.lim.MaxTextBytes)
						}
						if r.builder != nil && r.tree {
							r.builder.text(b[r.cdataStart:i-2], false, r.textCR)
						}
						i++
						r.st = stText
						r.textStart = i
						r.textRef, r.textCR = false, false
						goto next
					}
					i++
				case cCR:
					r.textCR = true
					i++
				case cCtl:
					return 0, r.badChar(i, rune(c))
				case cHigh:
					n, err := r.rune(b, i)
					if n == 0 {
						return 0, err
					}
					i += n
				default:
					i++
				}
			}
			if i-r.cdataStart > r.lim.MaxTextBytes {
				return 0, r.overLimit(i, "CDATA section", r.lim.MaxTextBytes)
			}

		case stPI:
			n, err := r.scanPI(b, i)
			if n == 0 {
				return 0, err
			}
			i = n
			r.st = stText

		case stStartName, stEndName, stAttrName:
			for i < len(b) {
				c := b[i]
				if c < utf8.RuneSelf {
					k := nameClass[c]
					if k == 0 {
						break
					}
					if k == 3 {
						if r.colons == 0 {
							r.colon = i
						}
						r.colons++
					}
					i++
					continue
				}
				rn, n, ok := decodeRune(b[i:])
				if !ok {
					r.off = i
					return 0, r.needRune()
				}
				if !isNameRune(rn, false) {
					return 0, r.failAt(i, CondNotWellFormed, "invalid character in a name")
				}
				i += n
			}
			if i == len(b) {
				break
			}
			switch r.st {
			case stStartName:
				r.nameEnd = i
				if err := r.checkQName(r.nameStart, i); err != nil {
					return 0, err
				}
				r.nameColon = r.colon
				r.st = stAfterName
			case stEndName:
				if i == r.nameStart {
					return 0, r.failAt(i, CondNotWellFormed, "end tag without a name")
				}
				if err := r.matchEnd(b, i); err != nil {
					return 0, err
				}
				r.st = stEndSpace
			case stAttrName:
				r.attrName.hi = int32(i)
				if err := r.checkQName(int(r.attrName.lo), i); err != nil {
					return 0, err
				}
				r.st = stAttrEq
			}

		case stAfterName:
			c := b[i]
			switch {
			case isSpace(c):
				r.st = stTagSpace
				i++
			case c == '/':
				r.st = stEmptyEnd
				i++
			case c == '>':
				i++
				k, err := r.startTagEnd(b, i, false)
				if err != nil || k != 0 {
					r.off = i
					return k, err
				}
			default:
				return 0, r.failAt(i, CondNotWellFormed, "expected whitespace, '/' or '>' in a start tag")
			}

		case stTagSpace:
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			if i == len(b) {
				break
			}
			c := b[i]
			switch {
			case c == '/':
				r.st = stEmptyEnd
				i++
			case c == '>':
				i++
				k, err := r.startTagEnd(b, i, false)
				if err != nil || k != 0 {
					r.off = i
					return k, err
				}
			case c < utf8.RuneSelf && nameClass[c] == 1, c >= utf8.RuneSelf:
				if c >= utf8.RuneSelf {
					rn, _, ok := decodeRune(b[i:])
					if !ok {
						r.off = i
						return 0, r.needRune()
					}
					if !isNameRune(rn, true) {
						return 0, r.failAt(i, CondNotWellFormed, "invalid character at the start of an attribute name")
					}
				}
				if len(r.tag) >= r.lim.MaxAttrs {
					return 0, r.failAt(i, CondPolicyViolation, "element has more than "+itoa(r.lim.MaxAttrs)+" attributes")
				}
				r.attrName.lo = int32(i)
				r.colon, r.colons = -1, 0
				r.st = stAttrName
			default:
				return 0, r.failAt(i, CondNotWellFormed, "invalid character in a start tag")
			}

		case stAttrEq:
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			if i == len(b) {
				break
			}
			if b[i] != '=' {
				return 0, r.failAt(i, CondNotWellFormed, "attribute without '='")
			}
			i++
			r.st = stAttrQuote

		case stAttrQuote:
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			if i == len(b) {
				break
			}
			if c := b[i]; c != '\'' && c != '"' {
				return 0, r.failAt(i, CondNotWellFormed, "attribute value without quotes")
			}
			r.quote = b[i]
			i++
			r.valStart = i
			r.attrRef, r.attrWS = false, false
			r.st = stAttrValue

		case stAttrValue:
			for i < len(b) {
				i = skipPlainAttr(b, i)
				for i < len(b) && byteClass[b[i]] == cPlain {
					i++
				}
				if i == len(b) {
					break
				}
				c := b[i]
				switch byteClass[c] {
				case cGt:
					i++
				case cSpace, cCR:
					r.attrWS = true
					i++
				case cQuote:
					if c != r.quote {
						i++
						continue
					}
					if i-r.valStart > r.lim.MaxAttrBytes {
						return 0, r.overLimit(i, "attribute value", r.lim.MaxAttrBytes)
					}
					r.tag = append(r.tag, attrSpan{
						name:  r.attrName,
						colon: int32(r.colon),
						val:   span{int32(r.valStart), int32(i)},
						ref:   r.attrRef,
						ws:    r.attrWS,
					})
					i++
					r.st = stAfterName
					goto next
				case cLt:
					return 0, r.failAt(i, CondNotWellFormed, "'<' in an attribute value")
				case cAmp:
					r.attrRef = true
					r.refStart = i
					r.st = stAttrRef
					i++
					goto next
				case cCtl:
					return 0, r.badChar(i, rune(c))
				case cHigh:
					n, err := r.rune(b, i)
					if n == 0 {
						return 0, err
					}
					i += n
				}
			}
			if i-r.valStart > r.lim.MaxAttrBytes {
				return 0, r.overLimit(i, "attribute value", r.lim.MaxAttrBytes)
			}

		case stEmptyEnd:
			if b[i] != '>' {
				return 0, r.failAt(i, CondNotWellFormed, "expected '>' after '/'")
			}
			i++
			k, err := r.startTagEnd(b, i, true)
			if err != nil || k != 0 {
				r.off = i
				return k, err
			}

		case stEndSpace:
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			if i == len(b) {
				break
			}
			if b[i] != '>' {
				return 0, r.failAt(i, CondNotWellFormed, "expected '>' in an end tag")
			}
			i++
			k := r.endTagEnd(i)
			if k != 0 {
				r.off = i
				return k, nil
			}
		}
	next:
	}
	r.off = i
	return 0, nil
}

// scanOutside handles bytes before the stream header (depth 0) and
// between top-level elements (depth 1): only whitespace, and at depth 0
// the XML declaration. Whitespace is consumed by moving start, so
// keepalives never accumulate in the buffer. It returns where to go on
// scanning relative to the new start, or -1 to wait for more input.
func (r *Reader) scanOutside(b []byte, i int) (int, error) {
	for i < len(b) {
		c := b[i]
		switch {
		case isSpace(c):
			i++
		case c == '<':
			r.start += i
			r.tagStart = 0
			r.st = stLt
			r.textRef, r.textCR = false, false
			return 1, nil
		case r.depth == 0 && !r.seenContent && c == 0xEF:
			// A UTF-8 byte order mark may open the stream.
			if len(b)-i < 3 {
				r.start += i
				if r.eof {
					return 0, r.fail(CondNotWellFormed, "truncated byte order mark")
				}
				return -1, nil
			}
			if b[i+1] != 0xBB || b[i+2] != 0xBF {
				return 0, r.failAt(i, CondNotWellFormed, "text before the stream header")
			}
			i += 3
		case r.depth == 0:
			return 0, r.failAt(i, CondNotWellFormed, "text before the stream header")
		default:
			return 0, r.failAt(i, CondBadFormat, "character data between top-level elements")
		}
	}
	r.start += i
	return -1, nil
}

// rune validates the multi-byte sequence at b[i]. It returns its length,
// or 0 with a nil error when the sequence is not complete yet.
func (r *Reader) rune(b []byte, i int) (int, error) {
	rn, n, ok := decodeRune(b[i:])
	if !ok {
		r.off = i
		return 0, r.needRune()
	}
	if rn == utf8.RuneError && n == 1 {
		return 0, r.failAt(i, CondNotWellFormed, "invalid UTF-8")
	}
	if !isXMLChar(rn) {
		return 0, r.badChar(i, rn)
	}
	return n, nil
}

// failAt is fail for a problem found at b[i] of the unit being scanned.
func (r *Reader) failAt(i int, cond, msg string) error {
	r.off = i
	return r.fail(cond, msg)
}

// overLimit reports a token that grew past its limit at b[i].
func (r *Reader) overLimit(i int, what string, limit int) error {
	return r.failAt(i, CondPolicyViolation, what+" exceeds the limit of "+itoa(limit)+" bytes")
}

// badChar reports a character XML forbids at b[i].
func (r *Reader) badChar(i int, c rune) error {
	return r.failAt(i, CondNotWellFormed, fmt.Sprintf("character U+%04X is not allowed", c))
}

// needRune is returned when a UTF-8 sequence is cut by the end of the
// buffer: wait for more input, unless there is none.
func (r *Reader) needRune() error {
	if r.eof {
		return r.fail(CondNotWellFormed, "invalid UTF-8")
	}
	return nil
}

// checkRef validates the name of a reference (without '&' and ';').
func (r *Reader) checkRef(ref []byte) error {
	switch string(ref) {
	case "lt", "gt", "amp", "apos", "quot":
		return nil
	}
	if len(ref) > 1 && ref[0] == '#' {
		if v, ok := parseCharRef(ref[1:]); ok && isXMLChar(v) {
			return nil
		}
		return r.failAt(r.refStart, CondNotWellFormed, "invalid character reference")
	}
	if len(ref) > 0 && ref[0] < utf8.RuneSelf && nameClass[ref[0]] == 1 {
		return r.failAt(r.refStart, CondRestrictedXML, "entity references are not allowed")
	}
	return r.failAt(r.refStart, CondNotWellFormed, "'&' does not start a reference")
}

// parseCharRef parses the digits of "&#...;" or "&#x...;".
func parseCharRef(d []byte) (rune, bool) {
	base := rune(10)
	if len(d) > 0 && d[0] == 'x' {
		base, d = 16, d[1:]
	}
	if len(d) == 0 || len(d) > 8 {
		return 0, false
	}
	var v rune
	for _, c := range d {
		var x rune
		switch {
		case c >= '0' && c <= '9':
			x = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			x = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			x = rune(c-'A') + 10
		default:
			return 0, false
		}
		v = v*base + x
		if v > utf8.MaxRune {
			return 0, false
		}
	}
	return v, true
}

// checkQName enforces Namespaces in XML on the name b[lo:hi] just
// scanned: at most one colon, not at either end of the name.
func (r *Reader) checkQName(lo, hi int) error {
	if r.colons == 0 {
		return nil
	}
	if r.colons > 1 || r.colon == lo || r.colon == hi-1 {
		return r.fail(CondNotWellFormed, "malformed qualified name")
	}
	return nil
}

// scanPI accepts the XML declaration at the start of a stream and refuses
// every other processing instruction. It returns the index after "?>",
// or 0 (with a nil error) when it needs more input.
func (r *Reader) scanPI(b []byte, i int) (int, error) {
	rest := b[i:]
	if r.depth != 0 || r.seenContent {
		return 0, r.failAt(i, CondRestrictedXML, "processing instructions are not allowed")
	}
	if len(rest) < 4 {
		if bytes.HasPrefix([]byte("xml "), rest) || bytes.HasPrefix([]byte("xml\t"), rest) ||
			bytes.HasPrefix([]byte("xml\n"), rest) || bytes.HasPrefix([]byte("xml\r"), rest) {
			r.off = i
			if r.eof {
				return 0, r.fail(CondNotWellFormed, "truncated XML declaration")
			}
			return 0, nil
		}
	}
	if len(rest) < 4 || !bytes.HasPrefix(rest, []byte("xml")) || !isSpace(rest[3]) {
		return 0, r.failAt(i, CondRestrictedXML, "processing instructions are not allowed")
	}
	end := bytes.Index(rest, []byte("?>"))
	if end < 0 {
		r.off = i
		if len(rest) > maxXMLDecl {
			return 0, r.fail(CondNotWellFormed, "XML declaration too long")
		}
		if r.eof {
			return 0, r.fail(CondNotWellFormed, "truncated XML declaration")
		}
		return 0, nil
	}
	decl := rest[3:end]
	if j := bytes.Index(decl, []byte("encoding")); j >= 0 {
		v := decl[j+len("encoding"):]
		v = bytes.TrimLeft(v, " \t\r\n=")
		if len(v) > 0 && (v[0] == '\'' || v[0] == '"') {
			q := v[0]
			v = v[1:]
			if k := bytes.IndexByte(v, q); k >= 0 {
				v = v[:k]
			}
		}
		if !bytes.EqualFold(v, []byte("utf-8")) {
			return 0, r.failAt(i, CondUnsupportedEnc, "only UTF-8 is supported")
		}
	}
	for _, c := range decl {
		if c < 0x20 && !isSpace(c) || c >= utf8.RuneSelf || c == '<' || c == '>' {
			return 0, r.failAt(i, CondNotWellFormed, "malformed XML declaration")
		}
	}
	r.seenContent = true
	return i + end + 2, nil
}

func isPrefixOfAny(b []byte, words ...string) bool {
	for _, w := range words {
		if len(b) < len(w) && w[:len(b)] == string(b) {
			return true
		}
	}
	return false
}

// endText finishes a run of character data before a tag at b[i].
func (r *Reader) endText(b []byte, i int) error {
	if i-r.textStart > r.lim.MaxTextBytes {
		return r.overLimit(i, "character data", r.lim.MaxTextBytes)
	}
	if r.builder != nil && r.tree && i > r.textStart {
		r.builder.text(b[r.textStart:i], r.textRef, r.textCR)
	}
	return nil
}

// startTagEnd runs when a start tag is complete at b[:i]. It returns
// KindOpen for the stream header and KindElement for a complete
// self-closing top-level element.
func (r *Reader) startTagEnd(b []byte, i int, selfClosing bool) (Kind, error) {
	name := span{int32(r.nameStart), int32(r.nameEnd)}
	r.seenContent = true
	if r.depth == 0 {
		return r.openStream(b, i, name, selfClosing)
	}
	r.depth++
	if r.depth-1 > r.lim.MaxDepth {
		return 0, r.fail(CondPolicyViolation, "elements nested deeper than "+itoa(r.lim.MaxDepth))
	}
	if r.depth == 2 {
		r.top.StreamPrefix = false
		r.top.Elem = nil
		if r.builder != nil {
			r.builder.reset()
		}
	}
	if err := r.declare(b); err != nil {
		return 0, err
	}
	if err := r.checkTag(b, name); err != nil {
		return 0, err
	}
	if r.depth == 2 {
		r.top.name = name
		r.top.attrs = append(r.top.attrs[:0], r.tag...)
		r.top.innerStart = int32(i)
	}
	if r.builder != nil && r.tree {
		r.builder.start(r, b, name, r.tag)
	}
	r.st = stText
	r.textStart = i
	r.textRef, r.textCR = false, false
	if !selfClosing {
		r.open = append(r.open, name)
		return 0, nil
	}
	return r.closeElement(i, i), nil
}

// endTagEnd runs when an end tag is complete at b[:i].
func (r *Reader) endTagEnd(i int) Kind {
	if r.depth == 1 {
		r.depth = 0
		r.top.name = span{int32(r.nameStart), int32(r.nameEnd)}
		r.top.attrs = r.top.attrs[:0]
		r.top.innerStart, r.top.innerEnd = int32(i), int32(i)
		r.top.StreamPrefix = false
		r.top.Elem = nil
		return KindClose
	}
	r.open = r.open[:len(r.open)-1]
	r.st = stText
	r.textStart = i
	r.textRef, r.textCR = false, false
	return r.closeElement(r.tagStart, i)
}

// closeElement pops the innermost element, whose end tag starts at
// endTag and ends at i. It returns KindElement when that completes a
// top-level element.
func (r *Reader) closeElement(endTag, i int) Kind {
	for len(r.ns) > 0 && r.ns[len(r.ns)-1].depth >= r.depth {
		r.ns = r.ns[:len(r.ns)-1]
	}
	if r.builder != nil && r.tree {
		r.builder.end()
	}
	r.depth--
	if r.depth > 1 {
		return 0
	}
	r.top.innerEnd = int32(endTag)
	if r.builder != nil && r.tree {
		r.top.Elem = r.builder.root
	}
	return KindElement
}

// matchEnd checks the end tag name ending at b[i] against the open element.
func (r *Reader) matchEnd(b []byte, i int) error {
	got := b[r.nameStart:i]
	r.nameEnd = i
	if r.depth == 1 {
		if string(got) != r.header.Name {
			return r.failAt(r.tagStart, CondNotWellFormed, "end tag does not match the stream header")
		}
		return nil
	}
	if r.depth < 1 || len(r.open) == 0 {
		return r.failAt(r.tagStart, CondNotWellFormed, "end tag without a start tag")
	}
	want := r.open[len(r.open)-1]
	if !bytes.Equal(got, b[want.lo:want.hi]) {
		return r.failAt(r.tagStart, CondNotWellFormed, "end tag does not match its start tag")
	}
	return nil
}

// declare records the namespace declarations of the start tag.
func (r *Reader) declare(b []byte) error {
	for _, a := range r.tag {
		var prefix span
		switch {
		case a.colon < 0 && a.name.hi-a.name.lo == 5 && string(b[a.name.lo:a.name.hi]) == "xmlns":
			prefix = span{a.name.lo, a.name.lo}
		case a.colon-a.name.lo == 5 && string(b[a.name.lo:a.colon]) == "xmlns":
			prefix = span{a.colon + 1, a.name.hi}
			p := b[prefix.lo:prefix.hi]
			v := b[a.val.lo:a.val.hi]
			switch {
			case len(v) == 0:
				return r.fail(CondNotWellFormed, "a namespace prefix cannot be undeclared")
			case string(p) == "xmlns":
				return r.fail(CondNotWellFormed, "the xmlns prefix cannot be declared")
			case string(p) == "xml" && string(v) != NSXML:
				return r.fail(CondNotWellFormed, "the xml prefix cannot be rebound")
			}
		default:
			continue
		}
		r.ns = append(r.ns, nsDecl{prefix: prefix, uri: a.val, ref: a.ref, depth: r.depth})
	}
	return nil
}

// checkTag resolves the prefixes of the start tag's name and attributes
// and refuses duplicate attributes.
func (r *Reader) checkTag(b []byte, name span) error {
	if r.nameColon >= 0 {
		if err := r.checkPrefix(b, b[name.lo:r.nameColon], r.depth == 2); err != nil {
			return err
		}
	}
	for k, a := range r.tag {
		n := b[a.name.lo:a.name.hi]
		if a.colon >= 0 && string(b[a.name.lo:a.colon]) != "xmlns" {
			if err := r.checkPrefix(b, b[a.name.lo:a.colon], false); err != nil {
				return err
			}
		}
		for _, o := range r.tag[:k] {
			if bytes.Equal(n, b[o.name.lo:o.name.hi]) {
				return r.fail(CondNotWellFormed, "duplicate attribute")
			}
		}
	}
	return nil
}

// checkPrefix makes sure prefix is declared. topName says it is the
// prefix of a top-level element's name, which may use the stream
// header's prefixes (stream:features, db:result).
func (r *Reader) checkPrefix(b, p []byte, topName bool) error {
	if string(p) == "xml" {
		return nil
	}
	if string(p) == "xmlns" {
		return r.fail(CondNotWellFormed, "the xmlns prefix is reserved")
	}
	for k := len(r.ns) - 1; k >= 0; k-- {
		d := r.ns[k]
		if d.prefix.hi > d.prefix.lo && bytes.Equal(b[d.prefix.lo:d.prefix.hi], p) {
			return nil
		}
	}
	if _, ok := r.header.Scope.lookup(p); ok {
		if !topName {
			r.top.StreamPrefix = true
		}
		return nil
	}
	return r.fail(CondBadNamespacePrefix, "undeclared namespace prefix")
}

// openStream records the stream header.
func (r *Reader) openStream(b []byte, i int, name span, selfClosing bool) (Kind, error) {
	if selfClosing {
		return 0, r.fail(CondBadFormat, "the stream header must stay open")
	}
	for k, a := range r.tag {
		for _, o := range r.tag[:k] {
			if bytes.Equal(b[a.name.lo:a.name.hi], b[o.name.lo:o.name.hi]) {
				return 0, r.fail(CondNotWellFormed, "duplicate attribute")
			}
		}
	}
	h := Header{Name: string(b[name.lo:name.hi]), Attrs: make([]Attr, 0, len(r.tag))}
	for _, a := range r.tag {
		n := string(b[a.name.lo:a.name.hi])
		v := b[a.val.lo:a.val.hi]
		val := string(v)
		if a.ref || a.ws {
			val = string(appendUnescaped(nil, v, true))
		}
		h.Attrs = append(h.Attrs, Attr{Name: n, Value: val})
		switch {
		case n == "xmlns":
			h.Scope.Default = val
		case len(n) > 6 && n[:6] == "xmlns:":
			if val == "" {
				return 0, r.fail(CondNotWellFormed, "a namespace prefix cannot be undeclared")
			}
			h.Scope.Prefixes = append(h.Scope.Prefixes, Binding{Prefix: n[6:], URI: val})
		}
	}
	r.header = h
	if c := bytes.IndexByte(b[name.lo:name.hi], ':'); c >= 0 {
		if _, ok := h.Scope.lookup(b[name.lo : name.lo+int32(c)]); !ok {
			return 0, r.fail(CondBadNamespacePrefix, "undeclared namespace prefix on the stream header")
		}
	}
	for _, a := range r.tag {
		n := b[a.name.lo:a.name.hi]
		if c := bytes.IndexByte(n, ':'); c >= 0 && !bytes.HasPrefix(n, []byte("xmlns:")) && !bytes.HasPrefix(n, []byte("xml:")) {
			if _, ok := h.Scope.lookup(n[:c]); !ok {
				return 0, r.fail(CondBadNamespacePrefix, "undeclared namespace prefix on the stream header")
			}
		}
	}
	r.depth = 1
	r.st = stText
	r.top.name = name
	r.top.attrs = append(r.top.attrs[:0], r.tag...)
	r.top.innerStart, r.top.innerEnd = int32(i), int32(i)
	r.top.StreamPrefix = false
	r.top.Elem = nil
	return KindOpen, nil
}
