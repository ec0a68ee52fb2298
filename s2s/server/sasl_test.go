package server

import (
	"encoding/base64"
	"testing"
	"time"
)

func TestParseAuth(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		authzid string
		cond    string
	}{
		{"<auth xmlns='" + NSSASL + "' mechanism='EXTERNAL'>=</auth>", "", ""},
		{"<auth xmlns='" + NSSASL + "' mechanism='EXTERNAL'/>", "", ""},
		{"<auth xmlns='" + NSSASL + "' mechanism='EXTERNAL'>" + base64.StdEncoding.EncodeToString([]byte("example.com")) + "</auth>", "example.com", ""},
		{"<auth xmlns='" + NSSASL + "' mechanism='EXTERNAL'>\n ZXhhbXBsZS5jb20= \n</auth>", "example.com", ""},
		{"<auth xmlns='" + NSSASL + "' mechanism='PLAIN'>AGEAYg==</auth>", "", saslInvalidMechanism},
		{"<auth xmlns='" + NSSASL + "'>=</auth>", "", saslInvalidMechanism},
		{"<auth xmlns='" + NSSASL + "' mechanism='EXTERNAL'>not base64!</auth>", "", saslIncorrectEncoding},
		{"<auth xmlns='" + NSSASL + "' mechanism='EXTERNAL'><x/></auth>", "", saslMalformedRequest},
		{"<auth xmlns='" + NSSASL + "' mechanism='EXTERNAL'>" + base64.StdEncoding.EncodeToString(make([]byte, 2000)) + "</auth>", "", saslInvalidAuthzid},
	} {
		a, cond := parseAuth(parseTop(t, tc.raw))
		if cond != tc.cond || cond == "" && a.authzid != tc.authzid {
			t.Errorf("%s: got %+v %q, want %q %q", tc.raw, a, cond, tc.authzid, tc.cond)
		}
	}
	a, cond := parseAuth(parseTop(t, string(appendAuthExternal(nil, "kontalk.example"))))
	if cond != "" || a.authzid != "kontalk.example" {
		t.Errorf("our own request reads as %+v %q", a, cond)
	}
}

func TestParseFeatures(t *testing.T) {
	f, err := parseFeatures(parseTop(t, "<stream:features><starttls xmlns='"+NSTLS+"'><required/></starttls>"+
		"<mechanisms xmlns='"+NSSASL+"'><mechanism>PLAIN</mechanism><mechanism> EXTERNAL </mechanism></mechanisms>"+
		"<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><c xmlns='http://jabber.org/protocol/caps'/>"+
		string(appendLimits(nil, 4096, time.Minute))+"</stream:features>"), &s2sScope)
	if err != nil || f != (features{starttls: true, starttlsRequired: true, external: true, dialback: true, maxBytes: 4096}) {
		t.Errorf("got %+v %v", f, err)
	}
	f, err = parseFeatures(parseTop(t, "<stream:features><mechanisms xmlns='"+NSSASL+"'><mechanism>PLAIN</mechanism></mechanisms><dialback xmlns='other'/></stream:features>"), &s2sScope)
	if err != nil || f != (features{}) {
		t.Errorf("got %+v %v", f, err)
	}
}

// FuzzSASLAuth feeds arbitrary <auth/> contents to the EXTERNAL parser:
// it either decodes an authorization identity or names a SASL failure.
func FuzzSASLAuth(f *testing.F) {
	for _, s := range []string{"=", "", "ZXhhbXBsZS5jb20=", "ZXhhbXBsZS5jb20", "a===", "&lt;x&gt;", "<x/>", " \t=\n"} {
		f.Add("EXTERNAL", s)
	}
	f.Add("PLAIN", "AGEAYg==")
	f.Fuzz(func(t *testing.T, mechanism, text string) {
		top, err := parseTopErr("<auth xmlns='" + NSSASL + "' mechanism='" + mechanism + "'>" + text + "</auth>")
		if err != nil {
			return
		}
		a, cond := parseAuth(top)
		switch {
		case cond == "" && a == nil, cond != "" && a != nil:
			t.Fatalf("%q %q: %+v %q", mechanism, text, a, cond)
		case cond == "" && len(a.authzid) > maxAuthzid+3:
			t.Fatalf("authzid of %d bytes accepted", len(a.authzid))
		case cond == "":
			if _, c := parseAuth(parseTop(t, string(appendAuthExternal(nil, a.authzid)))); c != "" && a.authzid != "" {
				t.Fatalf("%q does not survive a round trip: %s", a.authzid, c)
			}
		}
	})
}
