package stanza

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/xml"
)

func readTop(t *testing.T, s string) *xml.Top {
	t.Helper()
	r := xml.NewReader(strings.NewReader(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>`+s), xml.Limits{})
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	top, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func TestBounce(t *testing.T) {
	top := readTop(t, `<message from="alice@example/r'1" to='bob@nowhere' id='m1' type='chat'><body>secret</body></message>`)
	if !Bounceable(top) {
		t.Fatal("chat message not bounceable")
	}
	got := string(AppendBounce(nil, top, Errorf(RemoteServerNotFound, "no route to %s", "nowhere")))
	want := `<message to='alice@example/r&apos;1' from='bob@nowhere' id='m1' type='error'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no route to nowhere</text></error></message>`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	el, err := xml.Parse([]byte(got), xml.Scope{Default: "jabber:component:accept"})
	if err != nil {
		t.Fatal(err)
	}
	e := ParseError(el)
	if e == nil || e.Condition != RemoteServerNotFound || e.Type != Cancel || e.Text != "no route to nowhere" {
		t.Fatalf("parsed %+v", e)
	}
	if el.Attr("to") != "alice@example/r'1" {
		t.Fatalf("to = %q", el.Attr("to"))
	}
	for _, s := range []string{`<message type='error'/>`, `<iq type='result'/>`, `<presence type='error'/>`, `<handshake/>`} {
		if Bounceable(readTop(t, s)) {
			t.Errorf("%s is bounceable", s)
		}
	}
	for _, s := range []string{`<iq type='get'/>`, `<presence type='subscribe'/>`, `<message/>`, `<presence type='result'/>`} {
		if !Bounceable(readTop(t, s)) {
			t.Errorf("%s is not bounceable", s)
		}
	}
}

func TestErrorElement(t *testing.T) {
	e := &Error{Condition: ServiceUnavailable, Type: Wait, Text: "too many attempts", By: "kontalk.example"}
	if got, want := e.Element().String(), string(e.AppendXML(nil)); got != want {
		t.Fatalf("Element %s\nAppendXML %s", got, want)
	}
	st := xml.New("iq", "jabber:client").Append(e.Element())
	if back := ParseError(st); *back != *e {
		t.Fatalf("round trip %+v", back)
	}
	e.App = xml.New("file-too-large", "urn:xmpp:http:upload:0").Append(xml.New("max-file-size", "").AppendText("10"))
	if got, want := e.Element().String(), string(e.AppendXML(nil)); got != want {
		t.Fatalf("with App: Element %s\nAppendXML %s", got, want)
	}
	back := ParseError(xml.New("iq", "jabber:client").Append(e.Element()))
	if back.App == nil || back.App.Local() != "file-too-large" || back.Condition != e.Condition {
		t.Fatalf("App lost: %+v", back)
	}
}
