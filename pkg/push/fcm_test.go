package push

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGoogle implements Google's token endpoint and FCM's send endpoint
// with their contracts: a JWT bearer grant signed RS256 by the service
// account, then bearer-authenticated JSON messages.
type fakeGoogle struct {
	t        *testing.T
	pub      *rsa.PublicKey
	mu       sync.Mutex
	tokens   int               // token requests
	valid    map[string]bool   // access tokens issued and not revoked
	sent     []map[string]any  // messages accepted
	statuses map[string]int    // registration token → status to answer
	bodies   map[string]string // registration token → body with that status
}

func (g *fakeGoogle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r.URL.Path {
	case "/token":
		r.ParseForm()
		if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		parts := strings.Split(r.PostForm.Get("assertion"), ".")
		if len(parts) != 3 {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(g.pub, crypto.SHA256, sum[:], sig) != nil {
			http.Error(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, http.StatusBadRequest)
			return
		}
		var claims map[string]any
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		json.Unmarshal(b, &claims)
		if claims["iss"] != "push@kontalk-test.iam.gserviceaccount.com" || claims["scope"] != fcmScope || !strings.HasSuffix(claims["aud"].(string), "/token") {
			g.t.Errorf("JWT claims %v", claims)
		}
		g.tokens++
		tok := "ya29.token" + string(rune('0'+g.tokens))
		g.valid[tok] = true
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
	case "/v1/projects/kontalk-test/messages:send":
		if !g.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
			http.Error(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`, http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		msg := m["message"].(map[string]any)
		token := msg["token"].(string)
		if st, ok := g.statuses[token]; ok {
			w.WriteHeader(st)
			w.Write([]byte(g.bodies[token]))
			return
		}
		g.sent = append(g.sent, msg)
		json.NewEncoder(w).Encode(map[string]string{"name": "projects/kontalk-test/messages/0:1"})
	default:
		http.NotFound(w, r)
	}
}

func serviceAccountJSON(t *testing.T, key *rsa.PrivateKey, tokenURI string) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "kontalk-test",
		"client_email": "push@kontalk-test.iam.gserviceaccount.com",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri":    tokenURI,
	})
	return b
}

func TestFCM(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGoogle{t: t, pub: &key.PublicKey, valid: map[string]bool{},
		statuses: map[string]int{
			"stale": http.StatusNotFound,
			"flaky": http.StatusServiceUnavailable,
		},
		bodies: map[string]string{
			"stale": `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`,
			"flaky": `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`,
		}}
	srv := httptest.NewServer(g)
	defer srv.Close()
	acct, err := ParseServiceAccount(serviceAccountJSON(t, key, srv.URL+"/token"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	f := &FCM{Account: acct, BaseURL: srv.URL, Now: func() time.Time { return now }}
	ctx := context.Background()

	for range 3 {
		if err := f.Notify(ctx, "device-1"); err != nil {
			t.Fatal(err)
		}
	}
	if g.tokens != 1 || len(g.sent) != 3 {
		t.Fatalf("%d token requests, %d messages", g.tokens, len(g.sent))
	}
	msg := g.sent[0]
	if msg["data"].(map[string]any)["action"] != Action || msg["android"].(map[string]any)["priority"] != "HIGH" ||
		msg["android"].(map[string]any)["collapse_key"] != "new" {
		t.Errorf("message %v", msg)
	}

	if err := f.Notify(ctx, "stale"); !errors.Is(err, ErrUnregistered) {
		t.Errorf("unregistered token: %v", err)
	}
	if err := f.Notify(ctx, "flaky"); err == nil || errors.Is(err, ErrUnregistered) || !strings.Contains(err.Error(), "UNAVAILABLE") {
		t.Errorf("unavailable: %v", err)
	}

	// A revoked access token is replaced once, transparently.
	g.mu.Lock()
	clear(g.valid)
	g.mu.Unlock()
	if err := f.Notify(ctx, "device-1"); err != nil || g.tokens != 2 {
		t.Fatalf("after revocation: %v, %d token requests", err, g.tokens)
	}
	// An expired one is renewed before use.
	now = now.Add(time.Hour)
	if err := f.Notify(ctx, "device-1"); err != nil || g.tokens != 3 {
		t.Fatalf("after expiry: %v, %d token requests", err, g.tokens)
	}
}

func TestParseServiceAccount(t *testing.T) {
	for _, bad := range []string{`{}`, `not json`, `{"type":"service_account","project_id":"p","client_email":"e","private_key":"nope"}`} {
		if _, err := ParseServiceAccount([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
