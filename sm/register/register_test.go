package register_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/verify"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/register"
)

const phone = "+15555215554"

// deleted records the accounts registration replaced.
type deleted []string

func (d *deleted) Delete(_ context.Context, u, _ string) (bool, error) {
	*d = append(*d, u)
	return true, nil
}

type fixture struct {
	t       *testing.T
	env     *core.Env
	rec     *coretest.Recorder
	reg     *register.Register
	server  *keyring.ServerKey
	deleted *deleted
}

func newFixture(t *testing.T, opts register.Options) *fixture {
	t.Helper()
	env, rec := coretest.NewEnv(t)
	server, err := keyring.GenerateServerKey("Test", "server@"+coretest.Network, keyring.ServerKeyOptions{RSABits: 2048, Created: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Provider == nil {
		opts.Provider = verify.Dummy{Code: "123456", From: "Test SMS"}
	}
	opts.Signer = server
	d := &deleted{}
	return &fixture{t: t, env: env, rec: rec, reg: register.New(env, opts, d), server: server, deleted: d}
}

// ask sends a pre-authentication request and returns the reply IQ.
func (f *fixture) ask(iq, cert string) string {
	f.t.Helper()
	top, err := core.ParseRaw([]byte(iq))
	if err != nil {
		f.t.Fatal(err)
	}
	e := &envelope.Envelope{From: "c2s-1." + coretest.Host, To: coretest.Host, Action: envelope.ActionRegister, Conn: "c1", Remote: "192.0.2.1:4000", Cert: cert, Stanza: top}
	if err := f.reg.HandleEnvelope(coretest.Context(f.t), e); err != nil {
		f.t.Fatal(err)
	}
	sent := coretest.Find(f.rec.Take(), "envelope", "action='register'", "conn='c1'")
	if len(sent) != 1 {
		f.t.Fatalf("no single answer to %s", iq)
	}
	return sent[0].Raw
}

func phoneForm(phone string, extra string) string {
	return "<iq type='set' id='p1' to='" + coretest.Network + "'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>" +
		"<field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>" +
		"<field var='phone' type='text-single'><value>" + phone + "</value></field>" + extra + "</x></query></iq>"
}

func codeForm(code, extra string) string {
	return "<iq type='set' id='c1' to='" + coretest.Network + "'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>" +
		"<field var='FORM_TYPE' type='hidden'><value>http://kontalk.org/protocol/register#code</value></field>" +
		"<field var='code' type='text-single'><value>" + code + "</value></field>" + extra + "</x></query></iq>"
}

func must(t *testing.T, got string, substrs ...string) {
	t.Helper()
	for _, s := range substrs {
		if !strings.Contains(got, s) {
			t.Fatalf("%s lacks %q", got, s)
		}
	}
}

// publickey reads the publickey field of a reply.
func publickey(t *testing.T, raw string) []byte {
	t.Helper()
	_, after, ok := strings.Cut(raw, "var='publickey'")
	if !ok {
		t.Fatalf("no publickey in %s", raw)
	}
	_, after, _ = strings.Cut(after, "<value>")
	v, _, _ := strings.Cut(after, "</value>")
	ring, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestRegistration(t *testing.T) {
	f := newFixture(t, register.Options{TermsURL: "https://example.test/terms", PhoneLimit: 3})
	must(t, f.ask("<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>", ""),
		"type='result'", "id='g1'", "var='phone'", "var='challenge'", "var='accept-terms'", "https://example.test/terms")

	must(t, f.ask(phoneForm(phone, ""), ""), "type='error'", "bad-request", "Service terms were not accepted.")
	terms := "<field var='accept-terms' type='boolean'><value>true</value></field>"
	must(t, f.ask(phoneForm("555-1234", terms), ""), "bad-request", "Bad phone number.")
	must(t, f.ask(phoneForm("+1 555 521 5554", terms), ""), "type='result'", "from='"+coretest.Network+"'", "var='from'", "Test SMS", "<value>pin</value>")

	id, err := clienttest.New(coretest.Network, clienttest.Options{Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	cert := base64.StdEncoding.EncodeToString(id.CertDER)
	must(t, f.ask(codeForm("000000", ""), cert), "bad-request", "Invalid verification code.")
	must(t, f.ask(codeForm("123456", ""), ""), "bad-request", "Please provide either a phone number or a public key and a verification code.")
	other, _ := clienttest.New(coretest.Network, clienttest.Options{})
	must(t, f.ask(codeForm("123456", ""), base64.StdEncoding.EncodeToString(other.CertDER)), "bad-request", "Invalid verification code.")
	reply := f.ask(codeForm("123456", ""), cert)
	must(t, reply, "type='result'", "http://kontalk.org/protocol/register#code")
	trust, _ := keyring.NewTrust(f.server.Public())
	verified, err := keyring.Verify(publickey(t, reply), coretest.Network, trust, time.Now())
	if err != nil || verified.Localpart != id.Localpart {
		t.Fatalf("returned key: %v %v", verified, err)
	}
	user, err := f.env.Store.Users.Get(coretest.Context(t), id.Localpart)
	if err != nil || user.Fingerprint != id.Fingerprint || user.Home != coretest.Host {
		t.Fatalf("account %+v %v", user, err)
	}
	// The verification is used up.
	must(t, f.ask(codeForm("123456", ""), cert), "Invalid verification code.")

	// The number has an account now: conflict unless forced; then a new
	// key replaces the account.
	must(t, f.ask(phoneForm(phone, terms), ""), "conflict", "Another user is registered with the same id.")
	must(t, f.ask(phoneForm(phone, terms+"<field var='force' type='boolean'><value>true</value></field>"), ""), "type='result'")
	again, _ := clienttest.New(coretest.Network, clienttest.Options{Phone: phone})
	ring := "<field var='publickey' type='text-single'><value>" + base64.StdEncoding.EncodeToString(again.Ring) + "</value></field>"
	must(t, f.ask(codeForm("123456", ring), ""), "type='result'", "var='publickey'")
	if len(*f.deleted) != 1 || (*f.deleted)[0] != id.Localpart {
		t.Fatalf("replaced accounts %v", *f.deleted)
	}
	// Throttled per number: the limit is 3 within the window.
	must(t, f.ask(phoneForm(phone, terms+"<field var='force' type='boolean'><value>true</value></field>"), ""), "service-unavailable", "type='wait'", "Too many attempts.")
}

func TestRegistrationAttempts(t *testing.T) {
	f := newFixture(t, register.Options{MaxAttempts: 2})
	must(t, f.ask(phoneForm(phone, ""), ""), "type='result'")
	id, _ := clienttest.New(coretest.Network, clienttest.Options{Phone: phone})
	cert := base64.StdEncoding.EncodeToString(id.CertDER)
	must(t, f.ask(codeForm("1", ""), cert), "Invalid verification code.")
	must(t, f.ask(codeForm("2", ""), cert), "Invalid verification code.")
	// Dropped after two wrong codes: the right one is too late.
	must(t, f.ask(codeForm("123456", ""), cert), "Invalid verification code.")
}

func TestRegistrationDisabled(t *testing.T) {
	env, rec := coretest.NewEnv(t)
	reg := register.New(env, register.Options{}, &deleted{})
	top, _ := core.ParseRaw([]byte("<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>"))
	if err := reg.HandleEnvelope(coretest.Context(t), &envelope.Envelope{From: "c2s-1." + coretest.Host, Action: envelope.ActionRegister, Conn: "c", Stanza: top}); err != nil {
		t.Fatal(err)
	}
	must(t, rec.Take()[0].Raw, "not-allowed", "Registration is not allowed for this domain.")
}

func TestRolloverAndPrivateKey(t *testing.T) {
	f := newFixture(t, register.Options{})
	ctx := coretest.Context(t)
	old, err := clienttest.New(coretest.Network, clienttest.Options{Phone: phone, Certifier: f.server, Key: keytestCreated(-48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.env.Store.Users.Create(ctx, old.Localpart, store.User{Fingerprint: old.Fingerprint, Key: old.Ring, Home: coretest.Host})
	sess := coretest.Session(t, f.env, old.Localpart, "phone")
	newKey, _ := clienttest.New(coretest.Network, clienttest.Options{Phone: phone})
	handle := func(fields string) (*xml.Element, error) {
		raw := "<iq type='set' id='k' from='" + old.JID + "/phone'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>" + fields + "</x></query></iq>"
		iq := coretest.IQ(t, raw, core.TargetDomain, old.Localpart)
		iq.Session = sess
		return f.reg.HandleIQ(ctx, iq)
	}
	b64 := base64.StdEncoding.EncodeToString
	keyFields := func(revoked []byte) string {
		return "<field var='FORM_TYPE' type='hidden'><value>http://kontalk.org/protocol/register#key</value></field>" +
			"<field var='publickey'><value>" + b64(newKey.Ring) + "</value></field><field var='revoked'><value>" + b64(revoked) + "</value></field>"
	}
	if _, err := handle(keyFields(old.Ring)); err == nil || !strings.Contains(err.Error(), "Invalid revocation key.") {
		t.Fatalf("unrevoked old key: %v", err)
	}
	revoked, err := old.Key.Revoke(old.Ring, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	el, err := handle(keyFields(revoked))
	if err != nil {
		t.Fatal(err)
	}
	must(t, el.String(), "http://kontalk.org/protocol/register#key", "var='publickey'")
	if u, _ := f.env.Store.Users.Get(ctx, old.Localpart); u.Fingerprint != newKey.Fingerprint {
		t.Fatalf("stored fingerprint %s", u.Fingerprint)
	}

	el, err = handle("<field var='FORM_TYPE' type='hidden'><value>http://kontalk.org/protocol/register#privatekey</value></field>" +
		"<field var='privatekey'><value>" + b64([]byte("encrypted private key")) + "</value></field>")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(el.String(), "var='token'")
	_, after, _ = strings.Cut(after, "<value>")
	token, _, _ := strings.Cut(after, "</value>")
	if len(token) != 40 || strings.Trim(token, "0123456789") != "" {
		t.Fatalf("token %q", token)
	}
	fetch := "<iq type='get' id='a1'><query xmlns='jabber:iq:register'><account xmlns='http://kontalk.org/protocol/register#account'><privatekey><token>" + token + "</token></privatekey></account></query></iq>"
	must(t, f.ask(fetch, ""), "type='result'", "<private>"+b64([]byte("encrypted private key"))+"</private>", "<public>")
	must(t, f.ask(fetch, ""), "not-authorized", "Invalid private key token.")
}

func keytestCreated(ago time.Duration) keytest.Options {
	return keytest.Options{Created: time.Now().Add(ago)}
}

func TestThrottlePerAddress(t *testing.T) {
	f := newFixture(t, register.Options{AddrLimit: 2})
	must(t, f.ask(phoneForm("+15555215554", ""), ""), "type='result'")
	must(t, f.ask(phoneForm("+15555215555", ""), ""), "type='result'")
	// Another number, the same address: refused.
	must(t, f.ask(phoneForm("+15555215556", ""), ""), "service-unavailable", "type='wait'", "Too many attempts.")
}
