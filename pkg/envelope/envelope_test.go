package envelope_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
)

// top reads one stanza as the component client hands it over.
func top(t testing.TB, s string) *xml.Top {
	t.Helper()
	tp, err := xml.ParseTop([]byte(s), xml.Scope{Default: "jabber:component:accept"})
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return tp
}

const e2eMessage = `<message from='alice@n/phone' to='bob@n' id='m1' type='chat' xml:lang='en'><body>x</body>` +
	`<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>AAEC+/8=&#xD;
</e2e><x:y xmlns:x='urn:x'>a &amp; b &gt;</x:y></message>`

func TestRoundTrip(t *testing.T) {
	inner := top(t, e2eMessage)
	cases := []*envelope.Envelope{
		{From: "c2s-1.h", To: "alice@h", Action: envelope.ActionStart, SID: "7f3a", JID: "alice@n/phone", Remote: "203.0.113.7:5", Fingerprint: "F0", SM: true, CSI: "0"},
		{From: "sm-1.h", To: "c2s-1.h", Action: envelope.ActionStarted, SID: "7f3a", JID: "alice@n/phone"},
		{From: "sm-1.h", To: "c2s-1.h", Action: envelope.ActionFailed, SID: "7f3a", Error: &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAuthorized, Text: "no <account>"}},
		{From: "c2s-1.h", To: "alice@h", SID: "7f3a", Seq: 17, Stanza: inner},
		{From: "sm-1.h", To: "c2s-1.h", SID: "7f3a", Handled: 17},
		{From: "sm-1.h", To: "c2s-1.h", SID: "7f3a", RID: "a1b2", Stanza: inner},
		{From: "c2s-1.h", To: "alice@h", SID: "7f3a", Action: envelope.ActionAck, RIDs: []string{"a1", "b2"}},
		{From: "c2s-1.h", To: "alice@h", SID: "7f3a", Action: envelope.ActionEnd, Unacked: 3},
		{From: "sm-1.h", To: "c2s-1.h", SID: "7f3a", Action: envelope.ActionEnd, Reason: "conflict"},
		{From: "c2s-1.h", To: "alice@h", SID: "7f3a", Action: envelope.ActionState, CSI: "inactive"},
		{From: "c2s-1.h", To: "h", Action: envelope.ActionRegister, Conn: "c9", Remote: "1.2.3.4:5", Cert: "QUJD", Stanza: top(t, "<iq type='set' id='r1'><query xmlns='jabber:iq:register'/></iq>")},
		{From: "c2s-1.h", To: "alice@h", Action: envelope.ActionAuth, Conn: "c9", JID: "alice@n", Fingerprint: "F0", Created: 1700000000, Key: []byte{0, 1, 2, 250}},
		{From: "sm-1.h", To: "c2s-1.h", Action: envelope.ActionAuthorized, Conn: "c9"},
	}
	for _, want := range cases {
		raw := envelope.Append(nil, want)
		got, err := envelope.Parse(top(t, string(raw)))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if (got.Stanza == nil) != (want.Stanza == nil) || got.Stanza != nil && !bytes.Equal(got.Stanza.Raw, want.Stanza.Raw) {
			t.Fatalf("%s: stanza %q", raw, got.Stanza.Raw)
		}
		got.Stanza, want.Stanza = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", raw, got, want)
		}
	}
}

func TestDeliveryKeepsBytes(t *testing.T) {
	raw := envelope.AppendDelivery(nil, "sm-1.h", "c2s-1.h", "s1", "r1", []byte(e2eMessage))
	e, err := envelope.Parse(top(t, string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if e.SID != "s1" || e.RID != "r1" || e.From != "sm-1.h" || e.To != "c2s-1.h" || string(e.Stanza.Raw) != e2eMessage {
		t.Fatalf("%+v %q", e, e.Stanza.Raw)
	}
}

func TestNotEnvelope(t *testing.T) {
	for _, s := range []string{
		`<message from='a@n/r' to='b@h' type='chat'><session xmlns='http://kontalk.org/protocol/session' action='end'/></message>`,
		`<message from='c2s-1.h' to='b@h'><body>hi</body></message>`,
		`<presence from='c2s-1.h' to='b@h'><session xmlns='http://kontalk.org/protocol/session'/></presence>`,
		`<message from='c2s-1.h' to='b@h'><session xmlns='urn:other' action='end'/></message>`,
	} {
		if _, err := envelope.Parse(top(t, s)); !errors.Is(err, envelope.ErrNotEnvelope) {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, s := range []string{
		`<message from='c2s-1.h' to='b@h'><session xmlns='http://kontalk.org/protocol/session' seq='x'/></message>`,
		`<message from='c2s-1.h' to='b@h'><session xmlns='http://kontalk.org/protocol/session' seq='1'><a/><b/></session></message>`,
		`<message from='c2s-1.h' to='b@h'><session xmlns='http://kontalk.org/protocol/session'/><x/></message>`,
		`<message from='c2s-1.h' to='b@h'><session xmlns='http://kontalk.org/protocol/session' action='auth'><key>!!</key></session></message>`,
	} {
		if _, err := envelope.Parse(top(t, s)); err == nil || errors.Is(err, envelope.ErrNotEnvelope) {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	inner := top(f, e2eMessage)
	f.Add(string(envelope.Append(nil, &envelope.Envelope{From: "c2s-1.h", To: "a@h", SID: "s", Seq: 1, Stanza: inner})))
	f.Add(string(envelope.Append(nil, &envelope.Envelope{From: "c2s-1.h", To: "a@h", SID: "s", Action: envelope.ActionAck, RIDs: []string{"x"}})))
	f.Add(string(envelope.Append(nil, &envelope.Envelope{From: "c2s-1.h", To: "a@h", Action: envelope.ActionAuth, Key: []byte("k")})))
	f.Add(`<message to='a@h'><session xmlns='http://kontalk.org/protocol/session' action='failed'><error type='cancel'/></session></message>`)
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := xml.ParseTop([]byte(s), xml.Scope{Default: "jabber:component:accept"})
		if err != nil {
			return
		}
		e, err := envelope.Parse(tp)
		if err != nil {
			return
		}
		// What was read writes back to something that reads the same.
		again, err := envelope.Parse(top(t, string(envelope.Append(nil, e))))
		if err != nil {
			t.Fatalf("re-read %q: %v", envelope.Append(nil, e), err)
		}
		if again.SID != e.SID || again.Action != e.Action || again.Seq != e.Seq || len(again.RIDs) != len(e.RIDs) {
			t.Fatalf("round trip changed %+v into %+v", e, again)
		}
	})
}
