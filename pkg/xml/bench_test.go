package xml

import (
	"bytes"
	"io"
	"strconv"
	"testing"
)

// chatMessage is a realistic Kontalk chat message: body, chat state,
// receipt request and an end-to-end encrypted payload (about 600 bytes).
func chatMessage(i int) string {
	return `<message to='4bdd4f929f3a1062253e4e496bafba0bdfb5db75@kontalk.example' from='d888e3fba7e8b0b046f7b7a83f4d520a554092a1@kontalk.example/android' type='chat' id='msg-` + strconv.Itoa(i) + `'>` +
		`<body>[encrypted]</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/>` +
		`<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>hQEMA0f8Q1vqM6KrAQf/Tq2c8YbV0dJH6r8m4xq+0m9sVQwPz1kq3Ue7c6Qd9jQ0ZbWm5n2Q4r8Xq1F3y0Lk8o9pT7vW2cH5nJ3sA6dR1fM4gK8bE0uY2iC7xZ9lP5qN3wO1tV6hB4jD8eG0kS2aU7mI9rL5=</e2e></message>`
}

func benchStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	for i := range n {
		b.WriteString(chatMessage(i))
	}
	return b.Bytes()
}

// BenchmarkReaderTop measures the routing fast path: scan and validate
// each stanza, read its top-level attributes, build no tree.
func BenchmarkReaderTop(b *testing.B) { benchReader(b, false) }

// BenchmarkReaderTree measures reading stanzas into element trees.
func BenchmarkReaderTree(b *testing.B) { benchReader(b, true) }

func benchReader(b *testing.B, tree bool) {
	const perStream = 1000
	data := benchStream(perStream)
	src := bytes.NewReader(data)
	r := NewReader(src, Limits{})
	r.SetTree(tree)
	b.SetBytes(int64(len(data)-len(header)) / perStream)
	b.ReportAllocs()
	b.ResetTimer()
	var scratch []byte
	for i := 0; i < b.N; i++ {
		top, err := r.Next()
		if err == io.EOF || err == nil && top.Kind == KindOpen {
			src.Reset(data)
			r.Reset(src)
			if top, err = r.Next(); err != nil || top.Kind != KindOpen {
				b.Fatal(err)
			}
			top, err = r.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		scratch, _ = top.AppendValue(scratch[:0], "to")
	}
}

// BenchmarkSerialize measures writing a parsed stanza back out.
func BenchmarkSerialize(b *testing.B) {
	e, err := Parse([]byte(chatMessage(1)), Scope{Default: "jabber:client"})
	if err != nil {
		b.Fatal(err)
	}
	buf := e.AppendXML(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendXML(buf[:0])
	}
}

// BenchmarkRewriteTo measures re-addressing a stanza without parsing it,
// as the resolver does.
func BenchmarkRewriteTo(b *testing.B) {
	r := NewReader(bytes.NewReader([]byte(header+chatMessage(1))), Limits{})
	r.Next()
	top, err := r.Next()
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = top.AppendWithAttr(buf[:0], "to", "4bdd4f929f3a1062253e4e496bafba0bdfb5db75@node1.kontalk.example")
	}
}
