package stream

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/xml"
)

func TestOpenAndError(t *testing.T) {
	got := string(AppendOpen(nil, Open{NS: NSComponent, From: "sm.example", ID: "a'b"}))
	want := `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' from='sm.example' id='a&apos;b'>`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	e := Errorf(PolicyViolation, "stanza exceeds %d bytes & more", 8192)
	raw := string(e.AppendXML(nil))
	if raw != `<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>stanza exceeds 8192 bytes &amp; more</text></stream:error>` {
		t.Fatalf("error: %s", raw)
	}
	// What we write must read back as the same error.
	r := xml.NewReader(strings.NewReader(got+raw), xml.Limits{})
	r.SetTree(true)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	top, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if top.Elem.Space != xml.NSStream || top.Elem.Local() != "error" {
		t.Fatalf("read %v", top.Elem)
	}
	if back := ParseError(top.Elem); *back != *e {
		t.Fatalf("parsed %+v, want %+v", back, e)
	}
}

func TestFromReadError(t *testing.T) {
	r := xml.NewReader(strings.NewReader(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><!DOCTYPE x>`), xml.Limits{})
	var err error
	for err == nil {
		_, err = r.Next()
	}
	if e := FromReadError(err); e == nil || e.Condition != RestrictedXML || e.Text == "" {
		t.Fatalf("got %v", e)
	}
	if e := FromReadError(io.ErrUnexpectedEOF); e != nil {
		t.Fatalf("unexpected EOF mapped to %v", e)
	}
	if e := FromReadError(errors.New("read: connection reset")); e != nil {
		t.Fatalf("transport error mapped to %v", e)
	}
}
