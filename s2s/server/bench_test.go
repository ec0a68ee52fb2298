package server

import (
	"testing"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

const benchStanza = `<message from='ann@peer.example/x' to='bob@n.example' type='chat' id='m1'><body>hello</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/></message>`

// The checks every stanza from a federated peer goes through.
func BenchmarkCheckInbound(b *testing.B) {
	s := &Server{opts: Options{Network: "n.example", Host: "h.n.example"}, names: map[string]bool{"n.example": true}}
	c := &inStream{srv: s, domains: map[string]string{"peer.example": methodDialback}, log: zap.NewNop()}
	top, err := xml.ParseTop([]byte(benchStanza), xml.Scope{Default: stream.NSServer})
	if err != nil {
		b.Fatal(err)
	}
	var sc scratch
	b.SetBytes(int64(len(benchStanza)))
	b.ReportAllocs()
	for b.Loop() {
		if e := c.checkInbound(top, &sc); e != nil {
			b.Fatal(e)
		}
	}
}

// Re-addressing a stanza from user@H to user@N as it leaves for the
// federation.
func BenchmarkRewriteFrom(b *testing.B) {
	top, err := xml.ParseTop([]byte(benchStanza), xml.Scope{Default: stream.NSComponent})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchStanza)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := rewrite(top, "from", "ann@n.example/x"); !ok {
			b.Fatal("rewrite failed")
		}
	}
}
