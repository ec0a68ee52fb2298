package server

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// s2sScope is the namespace context of an s2s stream header.
var s2sScope = xml.Scope{Default: stream.NSServer, Prefixes: []xml.Binding{
	{Prefix: "stream", URI: xml.NSStream}, {Prefix: "db", URI: stream.NSDialback}}}

// The key derivation of XEP-0185, checked against Python's hmac and
// hashlib on the same inputs (the secret's hex SHA-256 is the HMAC key).
func TestDialbackKey(t *testing.T) {
	k, err := newDialbackKeys("s3cr3tf0rd14lb4ck")
	if err != nil {
		t.Fatal(err)
	}
	const want = "008c689ff366b50c63d69a3e2d2c0e0e1f8404b0118eb688a0102c87cb691bdc"
	if got := k.generate("example.net", "example.com", "D60000229F"); got != want {
		t.Fatalf("key %s, want %s", got, want)
	}
	if !k.verify("example.net", "example.com", "D60000229F", " "+strings.ToUpper(want)+"\n") {
		t.Error("the key in upper case with spaces around is refused")
	}
	for _, bad := range [][4]string{
		{"example.org", "example.com", "D60000229F", want},
		{"example.net", "example.org", "D60000229F", want},
		{"example.net", "example.com", "D60000229E", want},
		{"example.net", "example.com", "D60000229F", want[:63]},
		{"example.net", "example.com", "D60000229F", ""},
	} {
		if k.verify(bad[0], bad[1], bad[2], bad[3]) {
			t.Errorf("verify%q accepted", bad)
		}
	}
	other, _ := newDialbackKeys("another secret")
	if other.verify("example.net", "example.com", "D60000229F", want) {
		t.Error("a key made with another secret is accepted")
	}
	random1, _ := newDialbackKeys("")
	random2, _ := newDialbackKeys("")
	if random1.generate("a", "b", "c") == random2.generate("a", "b", "c") {
		t.Error("two random secrets give the same keys")
	}
}

func parseTop(t testing.TB, raw string) *xml.Top {
	t.Helper()
	top, err := xml.ParseTop([]byte(raw), s2sScope)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return top
}

func TestParseDialback(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want *dialback
		cond stream.Condition // stream error expected, "" for none
	}{
		{raw: "<db:result from='Example.COM' to='example.net'>abc</db:result>",
			want: &dialback{from: "example.com", to: "example.net", key: "abc"}},
		{raw: "<db:verify from='a.example' to='b.example' id='s1'>k</db:verify>",
			want: &dialback{verify: true, from: "a.example", to: "b.example", id: "s1", key: "k"}},
		{raw: "<db:result from='a.example' to='b.example' type='valid'/>",
			want: &dialback{from: "a.example", to: "b.example", typ: "valid"}},
		{raw: "<result xmlns='jabber:server:dialback' from='a.example' to='b.example' type='invalid'/>",
			want: &dialback{from: "a.example", to: "b.example", typ: "invalid"}},
		{raw: "<db:result from='a.example' to='b.example' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
			want: &dialback{from: "a.example", to: "b.example", typ: "error", errCond: "item-not-found"}},
		{raw: "<db:result to='b.example'>abc</db:result>", cond: stream.ImproperAddressing},
		{raw: "<db:result from='a@b.example' to='b.example'>abc</db:result>", cond: stream.ImproperAddressing},
		{raw: "<db:verify from='a.example' to='b.example'>k</db:verify>", cond: stream.ImproperAddressing},
		{raw: "<db:result from='a.example' to='b.example'/>", cond: stream.InvalidXML},
		{raw: "<db:result from='a.example' to='b.example' type='maybe'/>", cond: stream.InvalidXML},
		{raw: "<db:result from='a.example' to='b.example'>" + strings.Repeat("k", 600) + "</db:result>", cond: stream.InvalidXML},
	} {
		d, err := parseDialback(parseTop(t, tc.raw), &s2sScope)
		if tc.cond != "" {
			se, ok := err.(*stream.Error)
			if !ok || se.Condition != tc.cond {
				t.Errorf("%s: got %v, want %s", tc.raw, err, tc.cond)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if *d != *tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.raw, *d, *tc.want)
		}
	}
	for _, raw := range []string{"<db:other from='a' to='b'/>", "<result from='a.example' to='b.example'/>", "<message/>"} {
		if _, err := parseDialback(parseTop(t, raw), &s2sScope); err != errNotDialback {
			t.Errorf("%s: got %v, want errNotDialback", raw, err)
		}
	}
}

func TestAppendDialback(t *testing.T) {
	got := string(appendDialback(nil, true, "a.example", "b'.example", "id&1", "valid", ""))
	if got != "<db:verify from='a.example' to='b&apos;.example' id='id&amp;1' type='valid'/>" {
		t.Errorf("got %s", got)
	}
	got = string(appendDialback(nil, false, "a.example", "b.example", "", "", "k<"))
	if got != "<db:result from='a.example' to='b.example'>k&lt;</db:result>" {
		t.Errorf("got %s", got)
	}
	d, err := parseDialback(parseTop(t, string(appendDialbackError(nil, "a.example", "b.example", "remote-server-not-found", "gone"))), &s2sScope)
	if err != nil || d.typ != "error" || d.errCond != "remote-server-not-found" {
		t.Errorf("error result: %+v %v", d, err)
	}
}

// FuzzDialback feeds arbitrary elements to the dialback parser: it must
// return a dialback element, errNotDialback or a stream error, and what
// it accepts must survive being written and read again.
func FuzzDialback(f *testing.F) {
	for _, s := range []string{
		"<db:result from='a.example' to='b.example'>abc</db:result>",
		"<db:verify from='a.example' to='b.example' id='s1' type='valid'/>",
		"<db:result from='a.example' to='b.example' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
		"<result xmlns='jabber:server:dialback' from='a.example' to='b.example'>k</result>",
		"<db:verify from='&#x41;.example' to='b.example' id='&lt;'> k </db:verify>",
		"<db:result from='a.example' to='b.example'><x/>k</db:result>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		top, err := xml.ParseTop([]byte(raw), s2sScope)
		if err != nil {
			return
		}
		d, err := parseDialback(top, &s2sScope)
		if err != nil {
			if _, ok := err.(*stream.Error); !ok && err != errNotDialback {
				t.Fatalf("%q: unexpected error type %T", raw, err)
			}
			return
		}
		again := appendDialback(nil, d.verify, d.from, d.to, d.id, d.typ, d.key)
		if d.typ == "error" {
			return // the error child is not written back
		}
		d2, err := parseDialback(parseTop(t, string(again)), &s2sScope)
		if err != nil || d2.from != d.from || d2.to != d.to || d2.id != d.id || d2.typ != d.typ || d2.key != d.key {
			t.Fatalf("%q → %s → %+v, %v (was %+v)", raw, again, d2, err, d)
		}
	})
}

func parseTopErr(raw string) (*xml.Top, error) { return xml.ParseTop([]byte(raw), s2sScope) }
