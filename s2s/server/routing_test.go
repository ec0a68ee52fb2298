package server

import (
	"testing"

	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		domain, sub string
		want        bool
	}{
		{"h.example", "h.example", true},
		{"c2s-1.h.example", "h.example", true},
		{"xh.example", "h.example", false},
		{"example", "h.example", false},
		{"h.example.org", "h.example", false},
	} {
		if got := under(tc.domain, tc.sub); got != tc.want {
			t.Errorf("under(%q, %q) = %v", tc.domain, tc.sub, got)
		}
	}
}

func TestRewrite(t *testing.T) {
	scope := xml.Scope{Default: stream.NSComponent}
	payload := `<body>x &amp; y</body><e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>hQEMA</e2e>`
	for _, tc := range []struct {
		in, name, value, want string
	}{
		{"<message from='a@h.example/r' to='b@x.example'>" + payload + "</message>", "", "",
			"<message from='a@h.example/r' to='b@x.example'>" + payload + "</message>"},
		{"<message from='a@h.example/r' to='b@x.example'>" + payload + "</message>", "from", "a@n.example/r",
			"<message from='a@n.example/r' to='b@x.example'>" + payload + "</message>"},
		{"<message xmlns='jabber:component:accept' from='a@h.example' to='b@x.example'>" + payload + "</message>", "", "",
			"<message xmlns='jabber:server' from='a@h.example' to='b@x.example'>" + payload + "</message>"},
		{`<message xmlns="jabber:client" from="a@h.example" to="b@x.example">` + payload + "</message>", "from", "a@n.example",
			`<message xmlns="jabber:server" from="a@n.example" to="b@x.example">` + payload + "</message>"},
		{"<presence xmlns='jabber:server' from='a@h.example'/>", "", "", "<presence xmlns='jabber:server' from='a@h.example'/>"},
	} {
		top, err := xml.ParseTop([]byte(tc.in), scope)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := rewrite(top, tc.name, tc.value)
		if !ok || string(got) != tc.want {
			t.Errorf("rewrite(%s, %s=%s)\n got %s\nwant %s", tc.in, tc.name, tc.value, got, tc.want)
		}
	}
}
