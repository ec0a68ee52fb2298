package server

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

func TestEnvelopesWritten(t *testing.T) {
	s := newTestServer(t)
	client := xml.MustParse(`<message to='bob@kontalk.test' from='forged@x' id='m1' type='chat'><body>hi &amp; bye</body></message>`, stream.NSClient)
	top, err := xml.ParseTop([]byte(client.String()), xml.Scope{Default: stream.NSClient})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want []string
	}{
		{"start", s.appendStart(nil, "u@"+testHost, startInfo{sid: "s1", jid: "u@kontalk.test/r'1", remote: "1.2.3.4:5", fingerprint: "F00", sm: true}),
			[]string{`action='start'`, `sid='s1'`, `jid='u@kontalk.test/r&apos;1'`, `sm='1'`, `csi='0'`}},
		{"end", s.appendEnd(nil, "u@"+testHost, "s1", 3), []string{`action='end'`, `unacked='3'`}},
		{"stanza", s.appendStanza(nil, "u@"+testHost, "s1", 7, top, "u@kontalk.test/r", "it"),
			[]string{`seq='7'`, `<message xml:lang='it' to='bob@kontalk.test' from='u@kontalk.test/r' id='m1'`, `hi &amp; bye`}},
		{"ack", s.appendAck(nil, "u@"+testHost, "s1", []string{"a", "b"}), []string{`action='ack'`, `<rid>a</rid><rid>b</rid>`}},
		{"state", s.appendState(nil, "u@"+testHost, "s1", true), []string{`action='state'`, `csi='inactive'`}},
		{"register", s.appendRegister(nil, "tag.1", "1.2.3.4:5", []byte{1, 2, 3}, []byte(`<iq type='get' id='r'/>`)),
			[]string{`to='` + testHost + `'`, `conn='tag.1'`, `cert='AQID'`, `<iq type='get' id='r'/>`}},
		{"auth", s.appendAuth(nil, "u@"+testHost, authInfo{connID: "tag.1", jid: "u@kontalk.test", fingerprint: "F00", created: 42, ring: []byte{0xff}}),
			[]string{`action='auth'`, `created='42'`, `<key>/w==</key>`}},
	} {
		raw := string(tc.raw)
		el, err := xml.Parse(tc.raw, componentScope)
		if err != nil {
			t.Errorf("%s: not well-formed: %v\n%s", tc.name, err, raw)
			continue
		}
		if el.Attr("from") != s.opts.Name || el.Child("session", NSEnvelope) == nil {
			t.Errorf("%s: %s", tc.name, raw)
		}
		for _, w := range tc.want {
			if !strings.Contains(raw, w) {
				t.Errorf("%s lacks %s:\n%s", tc.name, w, raw)
			}
		}
	}
}

func TestParseEnvelope(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ok      bool
		check   func(envelope) bool
		comment string
	}{
		{`<message from='sm-1.h' to='c2s-1.h'><session xmlns='` + NSEnvelope + `' action='started' sid='s1'/></message>`, true,
			func(e envelope) bool { return e.action == "started" && e.sid == "s1" && e.from == "sm-1.h" }, "started"},
		{`<message from='sm-1.h' to='c2s-1.h'><session xmlns='` + NSEnvelope + `' sid='s1' handled='17'/></message>`, true,
			func(e envelope) bool { return e.hasHandled && e.handled == 17 }, "handled"},
		{`<message from='sm-1.h' to='c2s-1.h'> <session xmlns='` + NSEnvelope + `' sid='s1' rid='r'>
			<message from='a@n/x' to='b@n/y' id='m'><body>x</body></message> </session></message>`, true,
			func(e envelope) bool {
				return e.rid == "r" && string(e.payload) == `<message from='a@n/x' to='b@n/y' id='m'><body>x</body></message>`
			}, "delivery"},
		{`<message from='sm-1.h' to='c2s-1.h'><session xmlns='` + NSEnvelope + `' action='failed' conn='t.1'><error type='auth'><not-authorized xmlns='` + stanza.NSStanzas + `'/><text xmlns='` + stanza.NSStanzas + `'>nope</text></error></session></message>`, true,
			func(e envelope) bool {
				return e.err != nil && e.err.Condition == stanza.NotAuthorized && e.err.Text == "nope" && e.conn == "t.1" && e.payload == nil
			}, "failed"},
		{`<message from='sm-1.h'><session xmlns='` + NSEnvelope + `' sid='s' handled='x'/></message>`, false, nil, "bad handled"},
		{`<message from='sm-1.h'><session xmlns='urn:other' sid='s'/></message>`, false, nil, "other namespace"},
		{`<message from='sm-1.h'><body>hi</body></message>`, false, nil, "not an envelope"},
		{`<message from='sm-1.h'/>`, false, nil, "empty"},
		{`<iq from='sm-1.h'><session xmlns='` + NSEnvelope + `' sid='s'/></iq>`, false, nil, "not a message"},
		{`<message from='sm-1.h'><session xmlns='` + NSEnvelope + `'/><extra/></message>`, false, nil, "two children"},
	} {
		top, err := xml.ParseTop([]byte(tc.in), componentScope)
		if err != nil {
			t.Fatalf("%s: %v", tc.comment, err)
		}
		e, err := parseEnvelope(top)
		if (err == nil) != tc.ok || tc.ok && !tc.check(e) {
			t.Errorf("%s: %+v, %v", tc.comment, e, err)
		}
	}
}

// FuzzParseEnvelope checks that no envelope panics the parser and that a
// payload accepted for delivery is one stanza that parses on its own.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{
		`<message from='sm-1.h' to='c2s-1.h'><session xmlns='` + NSEnvelope + `' sid='s1' rid='r'><message to='a@b/c'><body>x</body></message></session></message>`,
		`<message from='sm-1.h'><session xmlns='` + NSEnvelope + `' action='failed' sid='s'><error type='cancel'><conflict xmlns='` + stanza.NSStanzas + `'/></error></session></message>`,
		`<message from='sm-1.h'><session xmlns='` + NSEnvelope + `' sid='s1' handled='18446744073709551615'/></message>`,
		`<message from='sm-1.h'><session xmlns='` + NSEnvelope + `' action='register' conn='x.1'><iq type='result' id='1'/></session></message>`,
		`<message><session xmlns='` + NSEnvelope + `'><p:iq xmlns:p='jabber:client'/></session></message>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		top, err := xml.ParseTop([]byte(in), componentScope)
		if err != nil {
			return
		}
		e, err := parseEnvelope(top)
		if err != nil || len(e.payload) == 0 {
			return
		}
		if p, err := payloadTop(e.payload); err == nil && len(p.Raw) != len(e.payload) {
			t.Fatalf("payload %q read as %q", e.payload, p.Raw)
		}
	})
}
