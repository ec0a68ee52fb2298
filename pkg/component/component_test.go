package component

import (
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
)

func TestHandshake(t *testing.T) {
	// XEP-0114 §3: hex SHA-1 of the stream id followed by the secret.
	want := fmt.Sprintf("%x", sha1.Sum([]byte("3BF96D32"+"sesame")))
	if got := Handshake("3BF96D32", "sesame"); got != want {
		t.Fatalf("Handshake = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		got string
		ok  bool
	}{
		{want, true},
		{strings.ToUpper(want), true},
		{want[:39], false},
		{want + "0", false},
		{Handshake("3BF96D32", "sesamE"), false},
		{"", false},
	} {
		if VerifyHandshake("3BF96D32", "sesame", []byte(tc.got)) != tc.ok {
			t.Errorf("VerifyHandshake(%q) != %v", tc.got, tc.ok)
		}
	}
}

func FuzzHandshake(f *testing.F) {
	f.Add("id", "secret", []byte("0123"))
	f.Fuzz(func(t *testing.T, id, secret string, got []byte) {
		if VerifyHandshake(id, secret, got) != strings.EqualFold(string(got), Handshake(id, secret)) {
			t.Fatalf("VerifyHandshake(%q, %q, %q) disagrees with Handshake", id, secret, got)
		}
		if !VerifyHandshake(id, secret, []byte(Handshake(id, secret))) {
			t.Fatal("own handshake refused")
		}
	})
}

func readTop(t testing.TB, s string) *xml.Top {
	r := xml.NewReader(strings.NewReader(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>`+s), xml.Limits{})
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	top, err := r.Next()
	if err != nil {
		return nil
	}
	return top
}

func TestProtoRoundTrip(t *testing.T) {
	b := Bind{Name: "sm.node'1.example", Multi: true, Default: true}
	top := readTop(t, string(AppendBindRequest(nil, b, "b<1")))
	if !IsExtension(top) {
		t.Fatal("bind request not recognized")
	}
	got, id := ParseBind(top)
	if got != b || id != "b<1" {
		t.Fatalf("ParseBind = %+v %q", got, id)
	}
	top = readTop(t, string(AppendUnbindRequest(nil, "x.example", "u1")))
	if !IsExtension(top) || top.Value("name") != "x.example" || top.Value("id") != "u1" {
		t.Fatalf("unbind request: %s", top.Raw)
	}
	reply := AppendReply(nil, "bind", "x.example", "b1", &stanza.Error{Condition: stanza.Conflict, Text: "taken"})
	el, err := xml.Parse(reply, xml.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if e := stanza.ParseError(el); e == nil || e.Condition != stanza.Conflict || e.Text != "taken" || el.Attr("type") != "error" {
		t.Fatalf("reply %s", reply)
	}
	for _, tc := range []struct {
		raw      string
		name     string
		up, isRP bool
	}{
		{string(AppendRoutePresence(nil, "c2s-1.example", "sm-1.example", true)), "c2s-1.example", true, true},
		{string(AppendRoutePresence(nil, "c2s-1.example", "sm-1.example", false)), "c2s-1.example", false, true},
		{`<presence from='c2s-1.example' to='sm'/>`, "", false, false},
		{`<presence from='user@c2s-1.example' to='sm'><route xmlns='` + NS + `'/></presence>`, "", false, false},
		{`<presence from='c2s.example' to='sm' type='probe'><route xmlns='` + NS + `'/></presence>`, "", false, false},
		{`<presence from='c2s.example' to='sm'><route xmlns='urn:other'/></presence>`, "", false, false},
	} {
		name, up, ok := ParseRoutePresence(readTop(t, tc.raw))
		if ok != tc.isRP || ok && (name != tc.name || up != tc.up) {
			t.Errorf("ParseRoutePresence(%s) = %q %v %v", tc.raw, name, up, ok)
		}
	}
}

// FuzzBind checks that reading router nonzas and route presences from
// arbitrary elements never fails badly, and that what a request writes
// reads back the same.
func FuzzBind(f *testing.F) {
	f.Add(`<bind xmlns='`+NS+`' name='a' multi='1' id='x'/>`, "name.example", true, false)
	f.Add(`<presence from='a'><route xmlns='`+NS+`'/></presence>`, "a&b", false, true)
	f.Fuzz(func(t *testing.T, raw, name string, multi, def bool) {
		if top := readTop(t, raw); top != nil {
			IsExtension(top)
			ParseBind(top)
			ParseRoutePresence(top)
		}
		top := readTop(t, string(AppendBindRequest(nil, Bind{Name: name, Multi: multi, Default: def}, "id")))
		if top == nil {
			return // name holds characters XML cannot carry
		}
		got, _ := ParseBind(top)
		if got.Multi != multi || got.Default != def {
			t.Fatalf("flags lost: %+v", got)
		}
	})
}
