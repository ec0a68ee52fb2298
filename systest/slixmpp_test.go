package systest

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// python is Debian's interpreter, which has python3-slixmpp; the python3
// first on PATH may be another one without it.
const python = "/usr/bin/python3"

// slixmpp registers a number as the Android client does (the
// instructions form, the phone number, then the code on a connection
// presenting the bridge certificate); the key it gets back is certified,
// and the user logs in with it. Python's ssl cannot load the clients'
// exact certificate form, so it presents the standard one.
func TestSlixmppRegistration(t *testing.T) {
	h := startRegHost(t)
	phone := randomPhone(t)
	id, err := clienttest.New(network, clienttest.Options{Phone: phone, StandardOtherName: true})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := id.WritePEM(t.TempDir(), "slix")
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.StartProcess(t, "slixmpp", python,
		[]string{"testdata/slix_register.py", h.c2sAddr, network, phone, h.certFile, verifyCode, certFile, keyFile}, nil)
	p.WaitOutput("instructions ", timeout)
	p.WaitOutput("terms "+termsURL, timeout)
	p.WaitOutput("sent-to Kontalk test pin", timeout)
	p.WaitOutput("publickey ", timeout)
	if err := p.Wait(timeout); err != nil {
		t.Fatalf("slixmpp exited with %v:\n%s", err, p.Output())
	}
	out := p.Output()
	_, after, _ := strings.Cut(out, "publickey ")
	key, _, _ := strings.Cut(after, "\n")
	u := certifiedUser(t, id, strings.TrimSpace(key))
	h.login(t, u, "android").Abort()
}
