package test

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/c2s/test/standin"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// python is Debian's interpreter, which has python3-slixmpp; the python3
// first on PATH may be another one without it.
const python = "/usr/bin/python3"

// slixmpp completes STARTTLS with a bridge certificate, SASL EXTERNAL,
// bind and XEP-0198: its message is acknowledged once sm confirmed it,
// and it receives the answer. Python's ssl cannot load the clients'
// exact certificate form, so it presents the standard one.
func TestSlixmpp(t *testing.T) {
	e := startEnv(t)
	slix := newIdentity(t, clienttest.Options{StandardOtherName: true})
	certFile, keyFile, err := slix.WritePEM(t.TempDir(), "slix")
	if err != nil {
		t.Fatal(err)
	}
	bobID := newIdentity(t, clienttest.Options{})
	bob := e.login(t, bobID, xmppclient.LoginOptions{StreamManagement: true})

	p := testkit.StartProcess(t, "slixmpp", python,
		[]string{"testdata/slix_client.py", e.addr, slix.JID + "/slix", certFile, keyFile, e.certFile, bobID.JID}, nil)
	p.WaitOutput("session-start "+slix.JID+"/slix", timeout)
	p.WaitOutput("sm-enabled", timeout)
	p.WaitOutput("acked slix-1", timeout)
	msg := expectStanza(t, bob, "slixmpp's message", func(el *xml.Element) bool { return el.Attr("id") == "slix-1" })
	if msg.Attr("from") != slix.JID+"/slix" || msg.Child("body", "").Text() != "hello from slixmpp" {
		t.Errorf("bob received %s", msg)
	}
	ev := e.waitEvent(t, "slixmpp's auth", func(ev standin.Event) bool { return ev.Action == "auth" && ev.Attrs["jid"] == slix.JID })
	if ev.Attrs["fingerprint"] != slix.Fingerprint {
		t.Errorf("auth %v", ev)
	}
	send(t, bob, `<message to='`+slix.JID+`/slix' id='answer' type='chat'><body>hello slixmpp</body></message>`)
	p.WaitOutput("message "+bobID.JID, timeout)
	if err := p.Wait(timeout); err != nil {
		t.Errorf("slixmpp exited with %v", err)
	}
	if out := p.Output(); strings.Contains(out, "failed-auth") {
		t.Errorf("slixmpp output:\n%s", out)
	}
}
