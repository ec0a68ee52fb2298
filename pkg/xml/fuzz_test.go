package xml

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, s := range splitCorpus {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	for _, s := range []string{
		header + `<message to='a'><!-- c --></message>`,
		header + `<!DOCTYPE x [<!ENTITY a "b">]>`,
		header + `<a xmlns:p='u'><p:b p:c='&amp;&#x41;'/></a>`,
		header + `<a><b></a></b>`,
		`<?xml version='1.0' encoding='utf-8'?>` + header + `</stream:stream>`,
		header + "<m>\xed\xa0\x80</m>",
	} {
		f.Add([]byte(s), uint16(7))
	}
}

// FuzzReader checks that no input panics the reader, that reading is the
// same however the input is cut, and that every element accepted reads
// back to the same tree after serialization, both from its raw bytes and
// from the serialized tree.
func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		lim := Limits{MaxElementBytes: 4 << 10, MaxDepth: 16, MaxAttrs: 8, MaxAttrBytes: 512, MaxTextBytes: 1 << 10}
		whole, elems, errWhole := readAll(t, bytes.NewReader(in), lim, true)
		n := int(cut)
		if n > len(in) {
			n = len(in)
		}
		split, _, errSplit := readAll(t, &splitReader{s: string(in), n: n}, lim, true)
		if !sameUnits(whole, split, errWhole, errSplit) {
			t.Fatalf("cut at %d: %q (%v), whole: %q (%v)", n, split, errSplit, whole, errWhole)
		}
		var scope Scope
		r := NewReader(bytes.NewReader(in), lim)
		if top, err := r.Next(); err == nil && top.Kind == KindOpen {
			scope = r.Header().Scope
		}
		for i, e := range elems {
			raw := whole[i+1][len("element:"):]
			fromRaw, err := Parse([]byte(raw), scope)
			if err != nil {
				t.Fatalf("raw element does not parse alone: %v\n%s", err, raw)
			}
			if !equalElements(e, fromRaw) {
				t.Fatalf("tree from raw differs:\n%s\n%s", e, fromRaw)
			}
			out := e.AppendXML(nil)
			back, err := Parse(out, scope)
			if err != nil {
				t.Fatalf("serialized element does not parse: %v\n%s", err, out)
			}
			if !equalElements(e, back) {
				t.Fatalf("round trip differs:\n%s\n%s", e, back)
			}
		}
		var se *SyntaxError
		if errWhole != nil && errors.As(errWhole, &se) && se.Cond == "" {
			t.Fatalf("syntax error without a condition: %v", errWhole)
		}
	})
}

// FuzzTopRewrite checks that re-addressing a stanza keeps it well-formed
// and changes only the attribute.
func FuzzTopRewrite(f *testing.F) {
	f.Add([]byte(`<message to='a@b' from="c"><body>x</body></message>`), "to", "z@y/'\"<&")
	f.Add([]byte(`<iq/>`), "id", "1")
	f.Fuzz(func(t *testing.T, stanza []byte, name, value string) {
		if !isASCIIName(name) {
			return
		}
		r := NewReader(strings.NewReader(header+string(stanza)), Limits{})
		r.Next()
		top, err := r.Next()
		if err != nil || top.Kind != KindElement {
			return
		}
		out := top.AppendWithAttr(nil, name, value)
		e, err := Parse(out, r.Header().Scope)
		if err != nil {
			t.Fatalf("rewritten stanza does not parse: %v\n%s", err, out)
		}
		if got := e.Attr(name); got != normalizedAttr(value) {
			t.Fatalf("attribute %s = %q, want %q", name, got, value)
		}
		if !bytes.Equal(top.Inner(), innerOf(t, out)) {
			t.Fatalf("content changed")
		}
		out = top.AppendWithoutAttr(nil, name)
		if e, err := Parse(out, r.Header().Scope); err != nil || e.Has(name) {
			t.Fatalf("without %s: %v\n%s", name, err, out)
		}
	})
}

func isASCIIName(s string) bool {
	if s == "" || strings.HasPrefix(s, "xml") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || nameClass[c] == 0 || c == ':' || i == 0 && nameClass[c] != 1 {
			return false
		}
	}
	return true
}

// normalizedAttr is what a value reads back as once escaped: characters
// XML cannot carry are replaced.
func normalizedAttr(v string) string {
	el, err := Parse(append(AppendEscapedAttr([]byte("<a v='"), v, '\''), "'/>"...), Scope{})
	if err != nil {
		return "\x00unparseable"
	}
	return el.Attr("v")
}

func innerOf(t *testing.T, raw []byte) []byte {
	r := NewReader(strings.NewReader(header+string(raw)), Limits{})
	r.Next()
	top, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(top.Inner())
}

// FuzzSWAR checks the word-at-a-time skips against a byte-by-byte
// definition: they skip only plain bytes, and stop only at a word that
// holds a special one.
func FuzzSWAR(f *testing.F) {
	f.Add([]byte("abcdefgh<ijklmnop&q'r\"s\x01t\xc3\xa9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		textSpecial := func(c byte) bool { return c < 0x20 || c >= 0x80 || c == '<' || c == '&' || c == '>' }
		attrSpecial := func(c byte) bool { return c < 0x20 || c >= 0x80 || c == '<' || c == '&' || c == '\'' || c == '"' }
		for _, tc := range []struct {
			skip    func([]byte, int) int
			special func(byte) bool
		}{{skipPlainText, textSpecial}, {skipPlainAttr, attrSpecial}} {
			j := tc.skip(b, 0)
			if bytes.ContainsFunc(b[:j], func(r rune) bool { return r >= 0x80 || tc.special(byte(r)) }) {
				t.Fatalf("skipped a special byte in %q", b[:j])
			}
			if j+8 <= len(b) && !bytes.ContainsFunc(b[j:j+8], func(r rune) bool { return r >= 0x80 || tc.special(byte(r)) }) {
				t.Fatalf("stopped at a plain word %q", b[j:j+8])
			}
		}
	})
}
