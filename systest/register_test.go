package systest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// The registration settings of the hosts started here.
const (
	verifyCode = "246810"
	termsURL   = "https://kontalk.test/terms"
	senderID   = "4242"
	phoneLimit = 3
)

// regHost is a host whose sm offers registration (dummy provider with
// verifyCode), push through a local FCM stand-in, and the other
// services.
type regHost struct {
	*host
	fcm *fakeFCM
	// caFile is c2s's certificate, which clients that load files trust.
	caFile string
}

// startRegHost starts Redis, router, resolver, an sm configured for
// registration and push, and c2s.
func startRegHost(t *testing.T, smArgs ...string) *regHost {
	t.Helper()
	h := newHost("node1."+network, nil)
	h.redis = testkit.StartRedis(t, testkit.RedisOptions{})
	certFile, keyFile, roots, err := clienttest.WriteServerCertificate(t.TempDir(), "server", network)
	if err != nil {
		t.Fatal(err)
	}
	h.roots = roots
	fcm := newFakeFCM(t)
	h.routerAddr = testkit.FreeAddr(t)
	env := []string{"KONTALK_SECRET=" + secret, "KONTALK_LOG_FORMAT=console", "KONTALK_VERIFY_CODE=" + verifyCode}
	common := []string{"-host", h.name, "-network", network, "-router", h.routerAddr}
	h.start(t, "router", env, "-listen", h.routerAddr)
	h.start(t, "resolver", env, append(common, "-name", "resolver-1."+h.name, "-redis", h.redis.URL())...)
	args := append(common, "-name", "sm-1."+h.name, "-redis", h.redis.URL(), "-server-key", serverKeyFile,
		"-verify", "dummy", "-verify-from", "Kontalk test", "-register-terms-url", termsURL,
		"-register-phone-limit", fmt.Sprint(phoneLimit), "-register-addr-limit", "1000",
		"-fcm-service-account", fcm.accountFile, "-fcm-sender-id", senderID, "-fcm-url", fcm.URL, "-push-idle", "1s")
	h.start(t, "sm-1", env, append(args, smArgs...)...)
	h.c2sAddr, h.c2sTLS = testkit.FreeAddr(t), testkit.FreeAddr(t)
	h.start(t, "c2s", env, append(common, "-name", "c2s-1."+h.name, "-listen", h.c2sAddr, "-listen-tls", h.c2sTLS,
		"-tls-cert", certFile, "-tls-key", keyFile, "-server-key", serverPubFile)...)
	return &regHost{host: h, fcm: fcm, caFile: certFile}
}

// dial opens an unauthenticated stream (STARTTLS), presenting cert
// when there is one.
func (h *regHost) dial(t *testing.T, cert *tls.Certificate) *xmppclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cfg := &tls.Config{RootCAs: h.roots, ServerName: network}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := xmppclient.Dial(ctx, xmppclient.Config{Addr: h.c2sAddr, Domain: network, TLS: cfg})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Abort() })
	return c
}

// iq sends an IQ and returns the answer, an error answer included.
func iq(t *testing.T, c *xmppclient.Client, typ, to, payload string) (*xml.Element, *stanza.Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reply, err := c.IQ(ctx, typ, to, payload)
	var se *stanza.Error
	if errors.As(err, &se) {
		return reply, se
	}
	if err != nil {
		t.Fatalf("IQ: %v", err)
	}
	return reply, nil
}

// wantError checks that an answer is the error with the condition, type
// and text given.
func wantError(t *testing.T, what string, se *stanza.Error, cond stanza.Condition, typ stanza.ErrorType, text string) {
	t.Helper()
	if se == nil || se.Condition != cond || typ != "" && se.Type != typ || se.Text != text {
		t.Fatalf("%s: got %v, want %s (%s) %q", what, se, cond, typ, text)
	}
}

func submit(formType string, fields ...string) string {
	var b strings.Builder
	b.WriteString("<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>")
	b.WriteString("<field var='FORM_TYPE' type='hidden'><value>" + formType + "</value></field>")
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString("<field var='" + fields[i] + "'><value>" + fields[i+1] + "</value></field>")
	}
	b.WriteString("</x></query>")
	return b.String()
}

// fieldValue returns the first value of the form field name in el.
func fieldValue(el *xml.Element, name string) string {
	s := el.String()
	_, after, ok := strings.Cut(s, "var='"+name+"'")
	if !ok {
		return ""
	}
	_, after, ok = strings.Cut(after, "<value>")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, "</value>")
	return v
}

const (
	nsRegister = "jabber:iq:register"
	nsCode     = "http://kontalk.org/protocol/register#code"
)

// requestCode asks for a verification of phone on a new anonymous
// connection, as the Android client does (§1.1).
func (h *regHost) requestCode(t *testing.T, phone string, extra ...string) (*xml.Element, *stanza.Error) {
	t.Helper()
	c := h.dial(t, nil)
	defer c.Abort()
	fields := append([]string{"phone", phone, "accept-terms", "true", "challenge", "pin"}, extra...)
	return iq(t, c, "set", network, submit(nsRegister, fields...))
}

// register runs the whole registration of a new key for phone and
// returns the user with the certified key in a rebuilt certificate.
func (h *regHost) register(t *testing.T, phone string) *user {
	t.Helper()
	if _, se := h.requestCode(t, phone); se != nil {
		t.Fatalf("phone %s: %v", phone, se)
	}
	id, err := clienttest.New(network, clienttest.Options{Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	c := h.dial(t, &id.Certificate)
	reply, se := iq(t, c, "set", network, submit(nsCode, "code", verifyCode))
	if se != nil {
		t.Fatalf("code: %v", se)
	}
	c.Abort()
	return certifiedUser(t, id, fieldValue(reply, "publickey"))
}

// certifiedUser rebuilds the identity's certificate around the key the
// server returned, as clients do, after checking the certification.
func certifiedUser(t *testing.T, id *clienttest.Identity, b64 string) *user {
	t.Helper()
	ring, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(ring) == 0 {
		t.Fatalf("publickey %q: %v", b64, err)
	}
	trust, _ := keyring.NewTrust(serverKey.Public())
	if verified, err := keyring.Verify(ring, network, trust, time.Now()); err != nil || verified.Fingerprint != id.Fingerprint {
		t.Fatalf("returned key: %v %v", verified, err)
	}
	cert, der, err := id.Bridge(id.Signer, ring, false)
	if err != nil {
		t.Fatal(err)
	}
	id.Ring, id.CertDER, id.Certificate = ring, der, cert
	return &user{id}
}

// loginFails reports the SASL failure of a login with u's certificate.
func (h *regHost) loginFails(t *testing.T, u *user) *xmppclient.SASLError {
	t.Helper()
	c := h.dial(t, &u.Certificate)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.AuthExternal(ctx, "=")
	var se *xmppclient.SASLError
	if !errors.As(err, &se) {
		t.Fatalf("login of %s: %v, want a SASL failure", u.JID, err)
	}
	return se
}

func randomPhone(t *testing.T) string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e7))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("+39347%07d", n)
}

// The registration conversation of client-protocol §1.0–1.3 over real
// TLS, through c2s and sm: every error path, the success, the login
// that follows, a registration replacing an account, and throttling.
func TestRegistration(t *testing.T) {
	h := startRegHost(t)
	phone := randomPhone(t)

	c := h.dial(t, nil)
	if c.Features().Child("register", xmppclient.NSRegisterFeature) == nil {
		t.Fatalf("no registration feature: %v", c.Features())
	}
	form, se := iq(t, c, "get", "", "<query xmlns='jabber:iq:register'/>")
	if se != nil {
		t.Fatal(se)
	}
	for _, want := range []string{"var='phone'", "var='force'", "var='fallback'", "var='challenge'", "var='accept-terms'", termsURL} {
		if !strings.Contains(form.String(), want) {
			t.Errorf("instructions lack %s: %v", want, form)
		}
	}
	_, se = iq(t, c, "set", network, submit(nsRegister, "phone", phone))
	wantError(t, "terms not accepted", se, stanza.BadRequest, stanza.Modify, "Service terms were not accepted.")
	_, se = iq(t, c, "set", network, submit(nsRegister, "phone", "347 1234567", "accept-terms", "true"))
	wantError(t, "national number", se, stanza.BadRequest, stanza.Modify, "Bad phone number.")
	_, se = iq(t, c, "set", network, "<query xmlns='jabber:iq:register'/>")
	wantError(t, "empty set", se, stanza.BadRequest, stanza.Modify, "Please provide either a phone number or a public key and a verification code.")
	reply, se := iq(t, c, "set", network, submit(nsRegister, "phone", phone, "accept-terms", "true", "challenge", "pin"))
	if se != nil {
		t.Fatal(se)
	}
	if fieldValue(reply, "from") != "Kontalk test" || fieldValue(reply, "challenge") != "pin" {
		t.Fatalf("phone answer %v", reply)
	}
	c.Abort()

	// Step 2 on a connection presenting the bridge certificate.
	id, err := clienttest.New(network, clienttest.Options{Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	c = h.dial(t, &id.Certificate)
	_, se = iq(t, c, "set", network, submit(nsCode, "code", "000000"))
	wantError(t, "wrong code", se, stanza.BadRequest, stanza.Modify, "Invalid verification code.")
	_, se = iq(t, c, "set", network, submit(nsCode, "code", verifyCode, "publickey", "bm90IGEga2V5"))
	wantError(t, "garbage key", se, stanza.BadRequest, stanza.Modify, "Invalid public key.")
	stranger, _ := clienttest.New(network, clienttest.Options{Phone: randomPhone(t)})
	_, se = iq(t, c, "set", network, submit(nsCode, "code", verifyCode, "publickey", base64.StdEncoding.EncodeToString(stranger.Ring)))
	wantError(t, "key of a number never verified", se, stanza.BadRequest, stanza.Modify, "Invalid verification code.")
	reply, se = iq(t, c, "set", network, submit(nsCode, "code", verifyCode))
	if se != nil {
		t.Fatal(se)
	}
	c.Abort()
	alice := certifiedUser(t, id, fieldValue(reply, "publickey"))

	// Without a certificate, the code step needs a publickey field.
	anon := h.dial(t, nil)
	_, se = iq(t, anon, "set", network, submit(nsCode, "code", verifyCode))
	wantError(t, "no key", se, stanza.BadRequest, stanza.Modify, "Please provide either a phone number or a public key and a verification code.")
	anon.Abort()

	// The registered user logs in with SASL EXTERNAL.
	a := h.login(t, alice, "phone")
	if a.JID() != alice.JID+"/phone" {
		t.Fatalf("bound %s", a.JID())
	}
	a.Abort()

	// The number has an account: conflict, unless forced.
	_, se = h.requestCode(t, phone)
	wantError(t, "existing user", se, stanza.Conflict, stanza.Modify, "Another user is registered with the same id.")
	// An older client sends the key in the form, with the code.
	if _, se := h.requestCode(t, phone, "force", "true"); se != nil {
		t.Fatal(se)
	}
	renewed, _ := clienttest.New(network, clienttest.Options{Phone: phone})
	anon = h.dial(t, nil)
	reply, se = iq(t, anon, "set", network, submit(nsCode, "code", verifyCode, "publickey", base64.StdEncoding.EncodeToString(renewed.Ring)))
	if se != nil {
		t.Fatal(se)
	}
	anon.Abort()
	replacement := certifiedUser(t, renewed, fieldValue(reply, "publickey"))
	h.login(t, replacement, "phone").Abort()
	if f := h.loginFails(t, alice); f.Condition != "not-authorized" {
		t.Fatalf("replaced key: %v", f)
	}

	// Throttling per number: the limit counts every request made for it.
	var throttled *stanza.Error
	for range phoneLimit + 1 {
		if _, throttled = h.requestCode(t, phone, "force", "true"); throttled != nil {
			break
		}
	}
	wantError(t, "throttling", throttled, stanza.ServiceUnavailable, stanza.Wait, "Too many attempts.")
}

const (
	nsKey        = "http://kontalk.org/protocol/register#key"
	nsPrivateKey = "http://kontalk.org/protocol/register#privatekey"
	nsAccount    = "http://kontalk.org/protocol/register#account"
)

var b64 = base64.StdEncoding.EncodeToString

// Key rollover (client-protocol §1.4): the old key revoked, the new one
// logs in, the old one is refused.
func TestKeyRollover(t *testing.T) {
	h := startRegHost(t)
	phone := randomPhone(t)
	old := h.register(t, phone)
	c := h.login(t, old, "phone")
	fresh, err := clienttest.New(network, clienttest.Options{Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	_, se := iq(t, c, "set", network, submit(nsKey, "publickey", b64(fresh.Ring), "revoked", b64(old.Ring)))
	wantError(t, "old key not revoked", se, stanza.Forbidden, stanza.Auth, "Invalid revocation key.")
	revoked, err := old.Key.Revoke(old.Ring, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reply, se := iq(t, c, "set", network, submit(nsKey, "publickey", b64(fresh.Ring), "revoked", b64(revoked)))
	if se != nil {
		t.Fatal(se)
	}
	c.Abort()
	renewed := certifiedUser(t, fresh, fieldValue(reply, "publickey"))
	h.login(t, renewed, "laptop").Abort()
	if f := h.loginFails(t, old); f.Condition != "not-authorized" {
		t.Fatalf("old key: %v", f)
	}
}

// Private key transfer (client-protocol §1.5): upload on a session,
// retrieval once on an anonymous connection, then refused.
func TestPrivateKeyTransfer(t *testing.T) {
	h := startRegHost(t)
	u := h.register(t, randomPhone(t))
	c := h.login(t, u, "phone")
	secretKey := []byte("passphrase-encrypted private key ring")
	reply, se := iq(t, c, "set", network, submit(nsPrivateKey, "privatekey", b64(secretKey)))
	if se != nil {
		t.Fatal(se)
	}
	token := fieldValue(reply, "token")
	if len(token) != 40 {
		t.Fatalf("token %q", token)
	}
	fetch := "<query xmlns='jabber:iq:register'><account xmlns='" + nsAccount + "'><privatekey><token>" + token + "</token></privatekey></account></query>"
	anon := h.dial(t, nil)
	reply, se = iq(t, anon, "get", "", fetch)
	if se != nil {
		t.Fatal(se)
	}
	pk := reply.Child("query", nsRegister).Child("account", nsAccount).Child("privatekey", nsAccount)
	if pk.Child("private", nsAccount).Text() != b64(secretKey) || pk.Child("public", nsAccount).Text() != b64(u.Ring) {
		t.Fatalf("retrieved %v", reply)
	}
	_, se = iq(t, anon, "get", "", fetch)
	wantError(t, "second retrieval", se, stanza.NotAuthorized, stanza.Auth, "Invalid private key token.")
}

// The service JIDs: roster match at probe@N, the server list at
// network@N, push registration at push@N and the wake-up sent when a
// message arrives for a user who is away, multicast to three users at
// multicast@N and at the domain.
func TestServices(t *testing.T) {
	h := startRegHost(t)
	alice, bob, carol, dave := h.register(t, randomPhone(t)), h.register(t, randomPhone(t)), h.register(t, randomPhone(t)), h.register(t, randomPhone(t))
	a := h.login(t, alice, "phone")

	unknown := clienttest.Localpart(randomPhone(t)) + "@" + network
	match, se := iq(t, a, "get", "probe@"+network, "<query xmlns='http://kontalk.org/extensions/roster'><item jid='"+bob.JID+"'/><item jid='"+unknown+"'/><item jid='"+carol.JID+"'/></query>")
	if se != nil {
		t.Fatal(se)
	}
	if s := match.String(); !strings.Contains(s, bob.JID) || !strings.Contains(s, carol.JID) || strings.Contains(s, unknown) {
		t.Fatalf("roster match %s", s)
	}

	list, se := iq(t, a, "set", "network@"+network, "<command xmlns='http://jabber.org/protocol/commands' node='serverlist' action='execute'/>")
	if se != nil {
		t.Fatal(se)
	}
	if s := list.String(); !strings.Contains(s, "<item node='"+network+"|"+h.name+"' fingerprint='"+serverKey.Fingerprint()+"'/>") || !strings.Contains(s, "status='completed'") {
		t.Fatalf("server list %s", s)
	}

	info, _ := iq(t, a, "get", network, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	for _, f := range []string{"http://kontalk.org/extensions/presence#push", "jabber:iq:register", "http://jabber.org/protocol/address"} {
		if !strings.Contains(info.String(), "var='"+f+"'") {
			t.Errorf("domain features lack %s: %v", f, info)
		}
	}
	items, _ := iq(t, a, "get", network, "<query xmlns='http://jabber.org/protocol/disco#items' node='http://kontalk.org/extensions/presence#push'/>")
	if !strings.Contains(items.String(), "jid='gcm.push."+network+"'") || !strings.Contains(items.String(), "node='"+senderID+"'") {
		t.Fatalf("push items %v", items)
	}

	// Bob registers for push and goes away; a message to him wakes him up.
	b := h.login(t, bob, "phone")
	if _, se := iq(t, b, "set", "push@"+network, "<register xmlns='http://kontalk.org/extensions/presence#push' provider='gcm'>bob-token</register>"); se != nil {
		t.Fatal(se)
	}
	closeClean(t, b)
	send(t, a, fmt.Sprintf("<message to='%s' id='wake' type='chat'><body>are you there?</body></message>", bob.JID))
	testkit.Eventually(t, timeout, "a wake-up for bob", func() bool { return h.fcm.sentTo("bob-token") > 0 })
	// A chat state alone wakes nobody; the wake-up went to FCM with the
	// action the client looks for.
	if m := h.fcm.last(); !strings.Contains(m, `"action":"org.kontalk.CHECK_MESSAGES"`) {
		t.Fatalf("FCM message %s", m)
	}

	// Multicast to three online users, at multicast@N and at the domain.
	b = h.login(t, bob, "laptop")
	cc := h.login(t, carol, "phone")
	d := h.login(t, dave, "phone")
	for _, x := range []*xmppclient.Client{b, cc, d} {
		send(t, x, "<presence/>")
	}
	for _, to := range []string{"multicast@" + network, network} {
		id := "group-" + strings.Split(to, "@")[0]
		send(t, a, fmt.Sprintf("<message to='%s' id='%s' type='chat'><body>hello group</body>"+
			"<addresses xmlns='http://jabber.org/protocol/address'><address type='to' jid='%s'/><address type='to' jid='%s'/><address type='cc' jid='%s'/></addresses>"+
			"<group xmlns='http://kontalk.org/extensions/message#group' id='g1' owner='%s' type='set'/></message>", to, id, bob.JID, carol.JID, dave.JID, alice.JID))
		for _, x := range []*xmppclient.Client{b, cc, d} {
			got := expect(t, x, "id='"+id+"'", "hello group")
			if got.Child("addresses", "http://jabber.org/protocol/address") != nil || got.Child("group", "http://kontalk.org/extensions/message#group") == nil {
				t.Fatalf("copy %v", got)
			}
			if from := got.Attr("from"); from != alice.JID+"/phone" {
				t.Fatalf("copy from %s", from)
			}
		}
	}
}

// closeClean acknowledges what the client received and closes the
// stream.
func closeClean(t *testing.T, c *xmppclient.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
}

// fakeFCM stands in for Google's token endpoint and FCM's send
// endpoint.
type fakeFCM struct {
	*httptest.Server
	accountFile string
	mu          sync.Mutex
	sent        []string // message bodies
}

func newFakeFCM(t *testing.T) *fakeFCM {
	t.Helper()
	f := &fakeFCM{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	account, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "kontalk-test", "client_email": "push@kontalk-test.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": f.URL + "/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.accountFile = filepath.Join(t.TempDir(), "fcm.json")
	if err := os.WriteFile(f.accountFile, account, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeFCM) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"test-access","expires_in":3600,"token_type":"Bearer"}`)
	case r.URL.Path == "/v1/projects/kontalk-test/messages:send" && r.Header.Get("Authorization") == "Bearer test-access":
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.sent = append(f.sent, string(body))
		f.mu.Unlock()
		io.WriteString(w, `{"name":"projects/kontalk-test/messages/1"}`)
	default:
		http.Error(w, "unexpected request", http.StatusBadRequest)
	}
}

// sentTo counts the messages sent to a registration token.
func (f *fakeFCM) sentTo(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.sent {
		if strings.Contains(m, `"token":"`+token+`"`) {
			n++
		}
	}
	return n
}

func (f *fakeFCM) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return ""
	}
	return f.sent[len(f.sent)-1]
}
