package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
)

func TestInsertChild(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<presence/>", "<presence><x/></presence>"},
		{"<presence from='a@b'  />", "<presence from='a@b'  ><x/></presence>"},
		{"<message id='1'><body>hi</body></message>", "<message id='1'><body>hi</body><x/></message>"},
		{"<message><body>a</body></message >", "<message><body>a</body><x/></message >"},
		{"<a:m xmlns:a='urn:a'/>", "<a:m xmlns:a='urn:a'><x/></a:m>"},
	} {
		if got := string(core.InsertChild([]byte(c.in), []byte("<x/>"))); got != c.want {
			t.Errorf("InsertChild(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func FuzzInsertChild(f *testing.F) {
	for _, s := range []string{"<presence/>", "<message><body>a</body></message>", "<iq\ttype='get'\n/>", "<m><![CDATA[</x>]]></m>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		top, err := xml.ParseTop([]byte(s), xml.Scope{Default: "jabber:client"})
		if err != nil {
			return
		}
		out := core.InsertChild(top.Raw, []byte("<inserted xmlns='urn:test'/>"))
		el, err := xml.Parse(out, xml.Scope{Default: "jabber:client"})
		if err != nil {
			t.Fatalf("%q became %q: %v", s, out, err)
		}
		var last *xml.Element
		for c := range el.Elements() {
			last = c
		}
		if last == nil || last.Space != "urn:test" || last.Local() != "inserted" {
			t.Fatalf("%q became %q: the child is not last", s, out)
		}
	})
}

func TestReaddress(t *testing.T) {
	st := coretest.Parse(t, "<message to='bob@node1' id='m'><body>x</body></message>")
	if got := string(core.Readdress(st.Top, "bob@n/phone")); got != "<message to='bob@n/phone' id='m'><body>x</body></message>" {
		t.Fatal(got)
	}
	srv := coretest.Parse(t, "<message xmlns='jabber:server' to='bob@node1'><body>x</body></message>")
	if got := string(core.Readdress(srv.Top, "bob@n/r")); got != "<message to='bob@n/r'><body>x</body></message>" {
		t.Fatal(got)
	}
}

func TestDelay(t *testing.T) {
	got := string(core.AppendDelay(nil, "n", time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), "Offline Storage"))
	if got != "<delay xmlns='urn:xmpp:delay' from='n' stamp='2026-01-02T03:04:05.006Z'>Offline Storage</delay>" {
		t.Fatal(got)
	}
}

func TestCandidates(t *testing.T) {
	for in, want := range map[string]string{
		"a@n/r": "a@n/r a@n n/r n",
		"a@n":   "a@n n",
		"n/r":   "n/r n",
		"n":     "n",
	} {
		j, err := jid.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(core.Candidates(j), " "); got != want {
			t.Errorf("Candidates(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseStanza(t *testing.T) {
	st := coretest.Parse(t, "<iq type='get' id='1' from='a@n/r' to='n'><query xmlns='jabber:iq:version'/></iq>")
	if st.Name != "iq" || !st.IsRequest() || st.Payload().Space != "jabber:iq:version" || st.BareFrom() != "a@n" || !st.HasTo {
		t.Fatalf("%+v", st)
	}
	top, _ := xml.ParseTop([]byte("<message to='a@@b'/>"), xml.Scope{})
	if _, err := core.ParseStanza(top, "jabber:client"); err == nil {
		t.Fatal("malformed 'to' accepted")
	}
	top, _ = xml.ParseTop([]byte("<handshake/>"), xml.Scope{})
	if _, err := core.ParseStanza(top, "jabber:client"); err == nil {
		t.Fatal("non-stanza accepted")
	}
}

func TestAppendError(t *testing.T) {
	st := coretest.Parse(t, "<message from='a@n/r' to='b@n' id='x'><body>secret</body></message>")
	got := string(core.AppendError(nil, st, "b@n", stanza.Errorf(stanza.ItemNotFound, "gone")))
	want := "<message from='b@n' to='a@n/r' id='x' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text></error></message>"
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if strings.Contains(string(core.AppendErrorRaw(nil, st, "b@n", core.BlockedError())), "secret") {
		t.Fatal("payload returned in an error")
	}
}
