package xml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='sm.example' xml:lang='en'>`

// readAll reads every unit of src, returning the raw units and the error
// that ended the stream.
func readAll(t *testing.T, src io.Reader, lim Limits, tree bool) ([]string, []*Element, error) {
	t.Helper()
	r := NewReader(src, lim)
	r.SetTree(tree)
	var raws []string
	var elems []*Element
	for {
		top, err := r.Next()
		if err != nil {
			return raws, elems, err
		}
		raws = append(raws, top.Kind.String()+":"+string(top.Raw))
		if top.Kind == KindElement && tree {
			elems = append(elems, top.Elem)
		}
	}
}

func TestReaderStream(t *testing.T) {
	in := header + "\n <message to='a@b' from='c@d/r' id='1'><body>hi &amp; bye</body></message>\n" +
		"<presence/> \t<iq type='get' id='2'><query xmlns='jabber:iq:version'/></iq></stream:stream>"
	raws, elems, err := readAll(t, strings.NewReader(in), Limits{}, true)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	want := []string{
		"open:<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='sm.example' xml:lang='en'>",
		"element:<message to='a@b' from='c@d/r' id='1'><body>hi &amp; bye</body></message>",
		"element:<presence/>",
		"element:<iq type='get' id='2'><query xmlns='jabber:iq:version'/></iq>",
		"close:</stream:stream>",
	}
	if strings.Join(raws, "\n") != strings.Join(want, "\n") {
		t.Fatalf("units:\n%s\nwant:\n%s", strings.Join(raws, "\n"), strings.Join(want, "\n"))
	}
	if got := elems[0].Child("body", "jabber:component:accept").Text(); got != "hi & bye" {
		t.Errorf("body text = %q", got)
	}
	if q := elems[2].ChildNS("jabber:iq:version"); q == nil || q.Name != "query" {
		t.Errorf("iq payload not found: %v", elems[2])
	}
}

func TestTopAttributes(t *testing.T) {
	in := header + `<message to="bob@example.com/r&apos;1" from='alice@example.com' type='chat'><body/></message>`
	r := NewReader(strings.NewReader(in), Limits{})
	if top, err := r.Next(); err != nil || top.Kind != KindOpen {
		t.Fatalf("open: %v %v", top, err)
	}
	if got := r.Header().Get("to"); got != "sm.example" {
		t.Errorf("header to = %q", got)
	}
	if r.Header().Scope.Default != "jabber:component:accept" {
		t.Errorf("default ns = %q", r.Header().Scope.Default)
	}
	top, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !top.Is("message") || string(top.Local()) != "message" || top.Prefix() != nil {
		t.Errorf("name = %q", top.Name())
	}
	if v, _ := top.Attr("to"); string(v) != "bob@example.com/r&apos;1" {
		t.Errorf("raw to = %q", v)
	}
	if got := top.Value("to"); got != "bob@example.com/r'1" {
		t.Errorf("to = %q", got)
	}
	if got, _ := top.AppendValue(nil, "type"); string(got) != "chat" {
		t.Errorf("type = %q", got)
	}
	if top.Has("id") || top.Value("id") != "" {
		t.Error("id should be absent")
	}
	if string(top.Inner()) != "<body/>" || top.SelfClosing() {
		t.Errorf("inner = %q", top.Inner())
	}
	got := string(top.AppendWithAttr(nil, "to", "bob@node1.example/r'1"))
	want := `<message to="bob@node1.example/r'1" from='alice@example.com' type='chat'><body/></message>`
	if got != want {
		t.Errorf("with to:\n%s\nwant\n%s", got, want)
	}
	got = string(top.AppendWithAttr(nil, "id", "x<1"))
	want = `<message id='x&lt;1' to="bob@example.com/r&apos;1" from='alice@example.com' type='chat'><body/></message>`
	if got != want {
		t.Errorf("with id:\n%s\nwant\n%s", got, want)
	}
	got = string(top.AppendWithoutAttr(nil, "from"))
	want = `<message to="bob@example.com/r&apos;1" type='chat'><body/></message>`
	if got != want {
		t.Errorf("without from:\n%s\nwant\n%s", got, want)
	}
}

// A payload the server does not understand must come out as it went in:
// the raw bytes exactly, and the tree equivalently.
func TestPayloadPreserved(t *testing.T) {
	stanza := `<message to='bob@kontalk.test' id='m1' type='chat' xml:lang='it'>` +
		`<body xml:lang='en'>[encrypted]</body>` +
		`<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>hQEMA0f8Q1vqM6KrAQf/&#x2B;abc==</e2e>` +
		`<x:enc xmlns:x='urn:example:x' xmlns:y='urn:example:y' x:alg='a' y:k='v'><y:key rid='1'>AAA</y:key>` +
		`<![CDATA[<not-a-tag> & ]]>tail</x:enc>` +
		`<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='27'><key rid='1' prekey="true">MwohB</key><iv>ivv</iv></header><payload>pp</payload></encrypted>` +
		`<openpgp xmlns='urn:xmpp:openpgp:0'>
  line1
  line2
</openpgp></message>`
	in := header + stanza
	r := NewReader(strings.NewReader(in), Limits{})
	r.SetTree(true)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	top, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(top.Raw) != stanza {
		t.Fatalf("raw changed:\n%s", top.Raw)
	}
	if top.StreamPrefix {
		t.Error("StreamPrefix set for a stanza declaring its own prefixes")
	}
	e := top.Elem
	enc := e.Child("enc", "urn:example:x")
	if enc == nil {
		t.Fatalf("x:enc not found in %s", e)
	}
	if k := enc.Child("key", "urn:example:y"); k == nil || k.Text() != "AAA" {
		t.Errorf("y:key = %v", k)
	}
	if got := enc.Text(); got != "<not-a-tag> & tail" {
		t.Errorf("enc text = %q", got)
	}
	if e2e := e.Child("e2e", "urn:ietf:params:xml:ns:xmpp-e2e"); e2e == nil || e2e.Text() != "hQEMA0f8Q1vqM6KrAQf/+abc==" {
		t.Errorf("e2e = %v", e2e)
	}
	if e.Attr("xml:lang") != "it" || e.Child("body", "").Attr("xml:lang") != "en" {
		t.Error("xml:lang lost")
	}
	// Serialized again, the tree must read back to the same tree.
	out := e.AppendXML(nil)
	e2, err := Parse(out, r.Header().Scope)
	if err != nil {
		t.Fatalf("reparse %s: %v", out, err)
	}
	if !equalElements(e, e2) {
		t.Fatalf("round trip differs:\n%s\n%s", e, e2)
	}
}

// equalElements compares trees as XML infosets: names, namespaces,
// attributes in order and children in order.
func equalElements(a, b *Element) bool {
	if a.Name != b.Name || a.Space != b.Space || len(a.Attrs) != len(b.Attrs) || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Attrs {
		if a.Attrs[i] != b.Attrs[i] {
			return false
		}
	}
	for i := range a.Children {
		switch x := a.Children[i].(type) {
		case Text:
			if y, ok := b.Children[i].(Text); !ok || x != y {
				return false
			}
		case *Element:
			y, ok := b.Children[i].(*Element)
			if !ok || !equalElements(x, y) {
				return false
			}
		}
	}
	return true
}

func TestStreamPrefixInsideStanza(t *testing.T) {
	in := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:k='urn:k'>` +
		`<stream:features><k:x/></stream:features><message><body/></message><k:top/>`
	r := NewReader(strings.NewReader(in), Limits{})
	r.SetTree(true)
	r.Next()
	top, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !top.StreamPrefix || top.Elem.Space != NSStream || top.Elem.Children[0].(*Element).Space != "urn:k" {
		t.Errorf("features: StreamPrefix=%v elem=%v", top.StreamPrefix, top.Elem)
	}
	top, _ = r.Next()
	if top.StreamPrefix || top.Elem.Space != "jabber:client" || top.Elem.Child("body", "jabber:client") == nil {
		t.Errorf("message: StreamPrefix=%v elem=%v", top.StreamPrefix, top.Elem)
	}
	top, _ = r.Next()
	if top.StreamPrefix || top.Elem.Space != "urn:k" {
		t.Errorf("k:top: StreamPrefix=%v", top.StreamPrefix)
	}
}

func TestReaderErrors(t *testing.T) {
	deep := strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000)
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`
	many := "<message"
	for i := range 100 {
		many += " a" + itoa(i) + "='x'"
	}
	many += "/>"
	tests := []struct {
		name, in, cond string
		lim            Limits
	}{
		{"doctype in stream", header + `<!DOCTYPE x>`, CondRestrictedXML, Limits{}},
		{"billion laughs", laughs, CondRestrictedXML, Limits{}},
		{"doctype before header", `<!DOCTYPE stream:stream>` + header, CondRestrictedXML, Limits{}},
		{"comment", header + `<message><!-- hi --></message>`, CondRestrictedXML, Limits{}},
		{"comment between stanzas", header + `<!-- hi -->`, CondRestrictedXML, Limits{}},
		{"processing instruction", header + `<message><?php x?></message>`, CondRestrictedXML, Limits{}},
		{"xml declaration later", header + `<?xml version='1.0'?>`, CondRestrictedXML, Limits{}},
		{"entity reference", header + `<message>&lol;</message>`, CondRestrictedXML, Limits{}},
		{"entity in attribute", header + `<message to='&lol;'/>`, CondRestrictedXML, Limits{}},
		{"bare ampersand", header + `<message>a & b</message>`, CondNotWellFormed, Limits{}},
		{"bad char ref", header + `<message>&#0;</message>`, CondNotWellFormed, Limits{}},
		{"surrogate char ref", header + `<message>&#xD800;</message>`, CondNotWellFormed, Limits{}},
		{"control char", header + "<message>\x01</message>", CondNotWellFormed, Limits{}},
		{"invalid utf8", header + "<message>\xff</message>", CondNotWellFormed, Limits{}},
		{"FFFE", header + "<message>\uFFFE</message>", CondNotWellFormed, Limits{}},
		{"mismatched end", header + `<message></presence>`, CondNotWellFormed, Limits{}},
		{"mismatched stream end", header + `</stream:foo>`, CondNotWellFormed, Limits{}},
		{"lt in attribute", header + `<message to='<'/>`, CondNotWellFormed, Limits{}},
		{"unquoted attribute", header + `<message to=a/>`, CondNotWellFormed, Limits{}},
		{"attribute without space", header + `<message to='a'from='b'/>`, CondNotWellFormed, Limits{}},
		{"duplicate attribute", header + `<message to='a' to='b'/>`, CondNotWellFormed, Limits{}},
		{"undeclared prefix", header + `<message><foo:bar/></message>`, CondBadNamespacePrefix, Limits{}},
		{"undeclared attr prefix", header + `<message foo:x='1'/>`, CondBadNamespacePrefix, Limits{}},
		{"undeclaring a prefix", header + `<message xmlns:foo=''/>`, CondNotWellFormed, Limits{}},
		{"two colons", header + `<a:b:c/>`, CondNotWellFormed, Limits{}},
		{"text between stanzas", header + `hello<message/>`, CondBadFormat, Limits{}},
		{"text before header", `hello` + header, CondNotWellFormed, Limits{}},
		{"self-closing header", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`, CondBadFormat, Limits{}},
		{"cdata end in text", header + `<message>]]></message>`, CondNotWellFormed, Limits{}},
		{"unsupported encoding", `<?xml version='1.0' encoding='UTF-16'?>` + header, CondUnsupportedEnc, Limits{}},
		{"10000 nested elements", header + deep, CondPolicyViolation, Limits{}},
		{"depth", header + `<a><b><c><d/></c></b></a>`, CondPolicyViolation, Limits{MaxDepth: 3}},
		{"too many attributes", header + many, CondPolicyViolation, Limits{}},
		{"large element", header + `<message><body>` + strings.Repeat("x", 300<<10) + `</body></message>`, CondPolicyViolation, Limits{}},
		{"large element small limit", header + `<message><body>` + strings.Repeat("x", 9000) + `</body></message>`, CondPolicyViolation, Limits{MaxElementBytes: 8 << 10}},
		{"complete large element", header + `<message>` + strings.Repeat("<a/>", 100) + `</message>`, CondPolicyViolation, Limits{MaxElementBytes: 300}},
		{"large attribute", header + `<message to='` + strings.Repeat("x", 2000) + `'/>`, CondPolicyViolation, Limits{MaxAttrBytes: 1000}},
		{"large text", header + `<message>` + strings.Repeat("x", 2000) + `</message>`, CondPolicyViolation, Limits{MaxTextBytes: 1000}},
		{"large cdata", header + `<message><![CDATA[` + strings.Repeat("x", 2000) + `]]></message>`, CondPolicyViolation, Limits{MaxTextBytes: 1000}},
		{"large header", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='` + strings.Repeat("x", 5000) + `'>`, CondPolicyViolation, Limits{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tc.in)
				if split {
					src = &oneByteReader{s: tc.in}
				}
				_, _, err := readAll(t, src, tc.lim, true)
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("split=%v: err = %v, want %s", split, err, tc.cond)
				}
				if se.Cond != tc.cond {
					t.Fatalf("split=%v: cond = %s (%s), want %s", split, se.Cond, se.Msg, tc.cond)
				}
			}
		})
	}
}

// The reader must not buffer a large element before refusing it.
func TestLimitBeforeBuffering(t *testing.T) {
	src := &countingReader{r: io.MultiReader(strings.NewReader(header+"<message><body>"), infiniteX{})}
	r := NewReader(src, Limits{MaxElementBytes: 8 << 10})
	r.Next()
	_, err := r.Next()
	var se *SyntaxError
	if !errors.As(err, &se) || se.Cond != CondPolicyViolation {
		t.Fatalf("err = %v", err)
	}
	if src.n > 8<<10+2*initialBufSize+len(header) {
		t.Errorf("read %d bytes before refusing an 8 KiB limit", src.n)
	}
}

type infiniteX struct{}

func (infiniteX) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type oneByteReader struct {
	s string
	i int
}

func (o *oneByteReader) Read(p []byte) (int, error) {
	if o.i >= len(o.s) {
		return 0, io.EOF
	}
	p[0] = o.s[o.i]
	o.i++
	return 1, nil
}

func TestUnexpectedEOF(t *testing.T) {
	for _, in := range []string{header + "<message", header + "<message>", header + "<message to='a", "<stream:str"} {
		_, _, err := readAll(t, strings.NewReader(in), Limits{}, false)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: err = %v", in, err)
		}
	}
	_, _, err := readAll(t, strings.NewReader(header+"<a/>  "), Limits{}, false)
	if !errors.Is(err, io.EOF) {
		t.Errorf("clean end: err = %v", err)
	}
}

func TestRestartAndReset(t *testing.T) {
	in := header + `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>` + header + `<message/>`
	r := NewReader(strings.NewReader(in), Limits{})
	r.Next()
	top, err := r.Next()
	if err != nil || !top.Is("success") {
		t.Fatalf("%v %v", top, err)
	}
	r.Restart()
	if top, err = r.Next(); err != nil || top.Kind != KindOpen {
		t.Fatalf("after restart: %v %v", top, err)
	}
	if top, err = r.Next(); err != nil || !top.Is("message") {
		t.Fatalf("after restart: %v %v", top, err)
	}
	r.Reset(strings.NewReader(header + "<presence/>"))
	if top, err = r.Next(); err != nil || top.Kind != KindOpen {
		t.Fatalf("after reset: %v %v", top, err)
	}
	if top, err = r.Next(); err != nil || !top.Is("presence") {
		t.Fatalf("after reset: %v %v", top, err)
	}
}

func TestBufferedAfterStartTLS(t *testing.T) {
	r := NewReader(strings.NewReader(header+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message/>"), Limits{})
	r.Next()
	r.Next()
	if r.Buffered() == 0 {
		t.Fatal("Buffered() = 0 with a stanza pipelined after starttls")
	}
	r2 := NewReader(strings.NewReader(header+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), Limits{})
	r2.Next()
	r2.Next()
	if n := r2.Buffered(); n != 0 {
		t.Fatalf("Buffered() = %d", n)
	}
}

func TestParse(t *testing.T) {
	e, err := Parse([]byte(" <iq xmlns='jabber:client' type='get'><ping xmlns='urn:xmpp:ping'/></iq>\n"), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Space != "jabber:client" || e.ChildNS("urn:xmpp:ping") == nil {
		t.Errorf("%v", e)
	}
	for _, bad := range []string{"<a/><b/>", "<a>", "text", "<a/>x", "", "</a>"} {
		if _, err := Parse([]byte(bad), Scope{}); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestBuildAndSerialize(t *testing.T) {
	msg := New("message", "jabber:client", Attr{"to", `a"b'c`}, Attr{"id", "1\t2"})
	msg.Append(New("body", "").AppendText("x < y & z > w\r\n"))
	msg.Append(New("active", "http://jabber.org/protocol/chatstates"))
	got := msg.String()
	want := `<message xmlns='jabber:client' to='a"b&apos;c' id='1&#x9;2'><body>x &lt; y &amp; z &gt; w&#xD;` + "\n" + `</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	back, err := Parse([]byte(got), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Attr("to") != `a"b'c` || back.Attr("id") != "1\t2" || back.Child("body", "").Text() != "x < y & z > w\r\n" {
		t.Errorf("round trip: %v", back)
	}
	if !bytes.Contains(AppendEscapedText(nil, "a\x00b\xffc"), []byte("a\uFFFDb\uFFFDc")) {
		t.Error("invalid characters not replaced")
	}
}

// chunks is a source returning one chunk per Read.
type chunks struct{ parts []string }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	if n < len(c.parts[0]) {
		c.parts[0] = c.parts[0][n:]
	} else {
		c.parts = c.parts[1:]
	}
	return n, nil
}

func TestRelease(t *testing.T) {
	src := &chunks{parts: []string{header, "<message id='1'><body>one</body></message>", "  ",
		"<presence/><iq id='3'/>", strings.Repeat(" ", 10) + "<message id='4'>" + strings.Repeat("x", 20000) + "</message>"}}
	r := NewReader(src, Limits{})
	if r.Release() {
		t.Fatal("released before the stream header")
	}
	if top, err := r.Next(); err != nil || top.Kind != KindOpen {
		t.Fatalf("header: %v %v", top, err)
	}
	if !r.Release() || r.buf != nil {
		t.Fatal("not released after the header")
	}
	top, err := r.Next()
	if err != nil || top.Value("id") != "1" {
		t.Fatalf("after release: %v %v", top, err)
	}
	if !r.Release() {
		t.Fatal("not released between elements")
	}
	if top, err = r.Next(); err != nil || !top.Is("presence") {
		t.Fatalf("%v %v", top, err)
	}
	if r.Release() {
		t.Fatal("released with an element buffered")
	}
	if top, err = r.Next(); err != nil || top.Value("id") != "3" {
		t.Fatalf("%v %v", top, err)
	}
	if top, err = r.Next(); err != nil || top.Value("id") != "4" || len(top.Raw) < 20000 {
		t.Fatalf("large element after release: %v", err)
	}
	if !r.Release() || r.buf != nil {
		t.Fatal("not released after a large element")
	}
	if _, err = r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
	if r.Release() {
		t.Fatal("released after an error")
	}
}
