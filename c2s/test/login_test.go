package test

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/c2s/test/standin"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

func TestLogin(t *testing.T) {
	e := startEnv(t)
	id := newIdentity(t, clienttest.Options{})
	for _, direct := range []bool{false, true} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := tls.VersionName(version)
			if direct {
				name += "/direct"
			}
			t.Run(name, func(t *testing.T) {
				cfg := e.config(&id.Certificate, direct)
				cfg.TLS.MinVersion, cfg.TLS.MaxVersion = version, version
				c, err := xmppclient.Dial(ctxT(t), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Abort()
				state, _ := c.ConnectionState()
				if state.Version != version {
					t.Errorf("TLS version %x", state.Version)
				}
				if direct && state.NegotiatedProtocol != "xmpp-client" {
					t.Errorf("ALPN %q", state.NegotiatedProtocol)
				}
				if got := c.Mechanisms(); !slices.Equal(got, []string{"EXTERNAL"}) {
					t.Errorf("mechanisms %v", got)
				}
				if c.Features().Child("register", xmppclient.NSRegisterFeature) == nil {
					t.Error("no registration feature")
				}
				if err := c.AuthExternal(ctxT(t), xmppclient.EmptyResponse); err != nil {
					t.Fatal(err)
				}
				f := c.Features()
				for _, want := range []struct{ local, ns string }{{"bind", xmppclient.NSBind}, {"sm", xmppclient.NSSM}, {"csi", xmppclient.NSCSI}, {"limits", xmppclient.NSLimits}} {
					if f.Child(want.local, want.ns) == nil {
						t.Errorf("no %s feature in %s", want.local, f)
					}
				}
				if got := f.Child("limits", xmppclient.NSLimits).Child("max-bytes", "").Text(); got != "262144" {
					t.Errorf("max-bytes %s", got)
				}
				full, err := c.Bind(ctxT(t), "phone-"+name)
				if err != nil {
					t.Fatal(err)
				}
				if full != id.JID+"/phone-"+name {
					t.Errorf("bound %s", full)
				}
				if err := c.Session(ctxT(t)); err != nil {
					t.Errorf("session IQ: %v", err)
				}
				if _, err := c.EnableSM(ctxT(t), false); err != nil {
					t.Fatal(err)
				}
				start := e.waitEvent(t, "start", func(ev standin.Event) bool {
					return ev.Action == "start" && ev.Attrs["jid"] == full
				})
				if start.Attrs["fingerprint"] != id.Fingerprint || start.From != "c2s-1."+host || start.Attrs["remote"] == "" {
					t.Errorf("start envelope %+v", start)
				}
				if err := c.Close(ctxT(t)); err != nil {
					t.Errorf("close: %v", err)
				}
				e.waitEvent(t, "end", func(ev standin.Event) bool {
					return ev.Action == "end" && ev.Attrs["sid"] == start.Attrs["sid"]
				})
			})
		}
	}
	// The auth envelope carried what sm needs for the fingerprint check.
	auth := e.waitEvent(t, "auth", func(ev standin.Event) bool { return ev.Action == "auth" })
	if auth.Attrs["jid"] != id.JID || auth.Attrs["fingerprint"] != id.Fingerprint || auth.Attrs["created"] == "" || auth.Inner == nil || auth.Inner.Local() != "key" {
		t.Errorf("auth envelope %+v", auth)
	}
}

// An empty <auth/> is accepted like '=', and an authorization identity
// must be the key's own JID.
func TestAuthForms(t *testing.T) {
	e := startEnv(t)
	id := newIdentity(t, clienttest.Options{})
	for _, tc := range []struct {
		initial, fail string
	}{
		{"", ""},
		{base64Std(id.JID), ""},
		{base64Std(strings.ToUpper(id.JID[:3]) + id.JID[3:]), ""},
		{base64Std("someone@" + network), "invalid-authzid"},
		{base64Std(id.JID + "/res"), "invalid-authzid"},
		{"%%%", "incorrect-encoding"},
	} {
		c, err := xmppclient.Dial(ctxT(t), e.config(&id.Certificate, false))
		if err != nil {
			t.Fatal(err)
		}
		err = c.AuthExternal(ctxT(t), tc.initial)
		var se *xmppclient.SASLError
		switch {
		case tc.fail == "" && err != nil:
			t.Errorf("auth %q: %v", tc.initial, err)
		case tc.fail != "" && (!errors.As(err, &se) || se.Condition != tc.fail):
			t.Errorf("auth %q: %v, want %s", tc.initial, err, tc.fail)
		}
		c.Abort()
	}
}

// Every way a certificate can be wrong is refused with not-authorized and
// a text naming the cause; three failures close the stream.
func TestLoginRefused(t *testing.T) {
	e := startEnv(t)
	good := newIdentity(t, clienttest.Options{})
	mismatch, _, err := good.Bridge(newIdentity(t, clienttest.Options{}).Signer, good.Ring, false)
	if err != nil {
		t.Fatal(err)
	}
	truncated, _, err := good.Bridge(good.Signer, good.Ring[:len(good.Ring)/2], false)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := good.PlainCertificate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		name string
		cert tls.Certificate
		text string
	}{
		{"never certified", idCert(t, clienttest.Options{Certifier: nil, Key: keytest.Options{}}, false), "not certified"},
		{"other server key", idCert(t, clienttest.Options{Certifier: otherKey}, true), "not certified"},
		{"revoked", idCert(t, clienttest.Options{Key: keytest.Options{Revoked: true}}, true), "revoked"},
		{"expired", idCert(t, clienttest.Options{Key: keytest.Options{Created: now.Add(-48 * time.Hour), Lifetime: 24 * time.Hour}, CertifyAt: now.Add(-47 * time.Hour)}, true), "expired"},
		{"other domain", idCert(t, clienttest.Options{UIDDomain: "elsewhere.test"}, true), "no user ID in the network domain"},
		{"no extension", plain, "no OpenPGP key ring"},
		{"truncated extension", truncated, "malformed key ring"},
		{"key differs", mismatch, "not the master key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := xmppclient.Dial(ctxT(t), e.config(&tc.cert, false))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Abort()
			for i := range 3 {
				err = c.AuthExternal(ctxT(t), xmppclient.EmptyResponse)
				var se *xmppclient.SASLError
				if !errors.As(err, &se) || se.Condition != "not-authorized" || !strings.Contains(se.Text, tc.text) {
					t.Fatalf("attempt %d: %v, want not-authorized naming %q", i+1, err, tc.text)
				}
			}
			if cond, text := expectStreamError(t, c); cond != "policy-violation" {
				t.Errorf("after 3 failures: %s %s", cond, text)
			}
		})
	}
	// Without a certificate EXTERNAL is not offered, and asking for it
	// anyway fails.
	c, err := xmppclient.Dial(ctxT(t), e.config(nil, false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if m := c.Mechanisms(); len(m) != 0 {
		t.Errorf("mechanisms without a certificate: %v", m)
	}
	if c.Features().Child("register", xmppclient.NSRegisterFeature) == nil {
		t.Error("no registration feature without a certificate")
	}
	var se *xmppclient.SASLError
	if err := c.AuthExternal(ctxT(t), "="); !errors.As(err, &se) || se.Condition != "invalid-mechanism" {
		t.Errorf("EXTERNAL without a certificate: %v", err)
	}
	metrics := e.get(t, "/metrics")
	for _, want := range []string{`kontalk_c2s_auth_total{result="key-is-revoked"} 3`, `kontalk_c2s_auth_total{result="key-mismatch"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// idCert makes an identity with opts and returns its certificate.
func idCert(t *testing.T, opts clienttest.Options, certified bool) tls.Certificate {
	t.Helper()
	if !certified {
		id, err := clienttest.New(network, opts)
		if err != nil {
			t.Fatal(err)
		}
		return id.Certificate
	}
	return newIdentity(t, opts).Certificate
}

// A user whose stored fingerprint differs logs in only with a newer key
// (client-protocol §2 step 4, decided by sm).
func TestStoredFingerprint(t *testing.T) {
	e := startEnv(t)
	phone := "+393331234567"
	id := newIdentity(t, clienttest.Options{Phone: phone})
	// On record: a key created later than this one.
	e.sm.StoreKey(id.Localpart, "00112233445566778899AABBCCDDEEFF00112233", id.Created.Unix()+3600)
	c, err := xmppclient.Dial(ctxT(t), e.config(&id.Certificate, false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	var se *xmppclient.SASLError
	if err := c.AuthExternal(ctxT(t), "="); !errors.As(err, &se) || se.Condition != "not-authorized" || !strings.Contains(se.Text, "newer key") {
		t.Fatalf("older key: %v", err)
	}
	// On record: an older key. The new one is accepted.
	e.sm.StoreKey(id.Localpart, "00112233445566778899AABBCCDDEEFF00112233", id.Created.Unix()-3600)
	if err := c.AuthExternal(ctxT(t), "="); err != nil {
		t.Fatalf("newer key: %v", err)
	}
}

// When sm does not answer the auth request the client gets a temporary
// failure, not a hang.
func TestAuthSMTimeout(t *testing.T) {
	e := startEnv(t, "-sm-timeout", "500ms")
	id := newIdentity(t, clienttest.Options{})
	e.sm.Mute(true)
	c, err := xmppclient.Dial(ctxT(t), e.config(&id.Certificate, false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	var se *xmppclient.SASLError
	if err := c.AuthExternal(ctxT(t), "="); !errors.As(err, &se) || se.Condition != "temporary-auth-failure" {
		t.Fatalf("auth with a silent sm: %v", err)
	}
	e.sm.Mute(false)
	if err := c.AuthExternal(ctxT(t), "="); err != nil {
		t.Fatalf("auth once sm answers: %v", err)
	}
}
