package server

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

var clientScope = xml.Scope{Default: stream.NSClient}

func TestParseAuth(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		in, authzid, fail string
	}{
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>=</auth>`, "", ""},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'/>`, "", ""},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'> = </auth>`, "", ""},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>&#x3D;</auth>`, "", ""},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>` + b64("u@kontalk.test") + `</auth>`, "u@kontalk.test", ""},
		{`<auth xmlns='` + NSSASL + `' mechanism='PLAIN'>AGEAYg==</auth>`, "", ""},
		{`<auth xmlns='` + NSSASL + `'>=</auth>`, "", saslInvalidMechanism},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>not base64!</auth>`, "", saslIncorrectEncoding},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>` + b64("a\x00b") + `</auth>`, "", saslInvalidAuthzid},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>` + b64("\xff") + `</auth>`, "", saslInvalidAuthzid},
		{`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'><x/></auth>`, "", saslMalformedRequest},
	} {
		req, f := parseAuth([]byte(tc.in), clientScope)
		switch {
		case tc.fail == "" && f != nil:
			t.Errorf("%s: %+v", tc.in, f)
		case tc.fail != "" && (f == nil || f.cond != tc.fail):
			t.Errorf("%s: %+v, want %s", tc.in, f, tc.fail)
		case tc.fail == "" && req.authzid != tc.authzid:
			t.Errorf("%s: authzid %q", tc.in, req.authzid)
		}
	}
}

// FuzzParseAuth checks that no <auth/> panics the parser, and that an
// accepted authorization identity is valid UTF-8 without NUL.
func FuzzParseAuth(f *testing.F) {
	for _, s := range []string{
		`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>=</auth>`,
		`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'/>`,
		`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>dUBrb250YWxrLnRlc3Q=</auth>`,
		`<auth xmlns='` + NSSASL + `' mechanism='EXTERNAL'>&#61;</auth>`,
		`<auth mechanism=''><![CDATA[=]]></auth>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, fl := parseAuth(in, clientScope)
		if fl == nil && (strings.ContainsRune(req.authzid, 0) || !utf8.ValidString(req.authzid)) {
			t.Fatalf("accepted authzid %q", req.authzid)
		}
	})
}

// verify accepts a certified key and names every kind of refusal.
func TestVerify(t *testing.T) {
	s := newTestServer(t)
	other, err := keyring.GenerateServerKey("Other", "server@other.test", keyring.ServerKeyOptions{RSABits: 2048, Created: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	good, err := clienttest.New(testNetwork, clienttest.Options{Certifier: testKey})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.verify(good.CertDER, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id.jid != good.JID || id.fingerprint != good.Fingerprint || id.localpart != good.Localpart || !id.created.Equal(good.Created) {
		t.Errorf("identity %+v", id)
	}
	ecdsaID, err := clienttest.New(testNetwork, clienttest.Options{Certifier: testKey, ECDSA: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.verify(ecdsaID.CertDER, time.Now()); err != nil {
		t.Errorf("ECDSA key: %v", err)
	}

	certOf := func(opts clienttest.Options) []byte {
		id, err := clienttest.New(testNetwork, opts)
		if err != nil {
			t.Fatal(err)
		}
		return id.CertDER
	}
	_, mismatch, err := good.Bridge(ecdsaID.Signer, good.Ring, false)
	if err != nil {
		t.Fatal(err)
	}
	_, truncated, err := good.Bridge(good.Signer, good.Ring[:40], false)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := good.PlainCertificate()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		der   []byte
		label string
	}{
		{"uncertified", certOf(clienttest.Options{}), "key-is-not-certified-by-the-server"},
		{"other key", certOf(clienttest.Options{Certifier: other}), "key-is-not-certified-by-the-server"},
		{"revoked", certOf(clienttest.Options{Certifier: testKey, Key: keytest.Options{Revoked: true}}), "key-is-revoked"},
		{"other domain", certOf(clienttest.Options{Certifier: testKey, UIDDomain: "other.test"}), "no-user-id-in-the-network-domain"},
		{"mismatch", mismatch, "key-mismatch"},
		{"truncated", truncated, "malformed-key-ring"},
		{"plain", plain.Certificate[0], "no-key-ring"},
		{"garbage", []byte("not DER"), "malformed-certificate"},
	} {
		_, err := s.verify(tc.der, time.Now())
		var ae *authError
		if !errors.As(err, &ae) || ae.label != tc.label || ae.text == "" {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.label)
		}
	}
}
