package push

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ServiceAccount is the part of a Google service account key file FCM
// needs.
type ServiceAccount struct {
	ProjectID   string
	ClientEmail string
	PrivateKey  *rsa.PrivateKey
	TokenURI    string
}

// ParseServiceAccount reads a service account key file (JSON) as Google
// issues them.
func ParseServiceAccount(b []byte) (ServiceAccount, error) {
	var f struct {
		Type        string `json:"type"`
		ProjectID   string `json:"project_id"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
		TokenURI    string `json:"token_uri"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return ServiceAccount{}, fmt.Errorf("push: service account: %w", err)
	}
	if f.Type != "service_account" || f.ClientEmail == "" || f.PrivateKey == "" || f.ProjectID == "" {
		return ServiceAccount{}, errors.New("push: service account: not a service account key (type, project_id, client_email and private_key are required)")
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return ServiceAccount{}, errors.New("push: service account: private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return ServiceAccount{}, fmt.Errorf("push: service account: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return ServiceAccount{}, errors.New("push: service account: private_key is not an RSA key")
	}
	if f.TokenURI == "" {
		f.TokenURI = "https://oauth2.googleapis.com/token"
	}
	return ServiceAccount{ProjectID: f.ProjectID, ClientEmail: f.ClientEmail, PrivateKey: rk, TokenURI: f.TokenURI}, nil
}

// FCM sends notifications through the FCM HTTP v1 API, authenticating
// with a service account (OAuth 2.0 JWT bearer grant). Access tokens are
// cached until shortly before they expire.
type FCM struct {
	Account ServiceAccount
	// BaseURL is https://fcm.googleapis.com unless overridden (tests).
	BaseURL string
	// Client sends the requests (default: 10 s timeout).
	Client *http.Client
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// Name implements Provider.
func (*FCM) Name() string { return "gcm" }

func (f *FCM) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *FCM) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Notify implements Provider: a high-priority data message that Android
// delivers even to an app in the background, collapsed with any earlier
// one not yet delivered.
func (f *FCM) Notify(ctx context.Context, regToken string) error {
	msg := map[string]any{"message": map[string]any{
		"token":   regToken,
		"data":    map[string]string{"action": Action},
		"android": map[string]any{"priority": "HIGH", "collapse_key": "new"},
	}}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("push: fcm: %w", err)
	}
	for attempt := 0; ; attempt++ {
		access, err := f.accessToken(ctx)
		if err != nil {
			return err
		}
		status, resp, err := f.send(ctx, access, body)
		if err != nil {
			return err
		}
		switch {
		case status == http.StatusOK:
			return nil
		case status == http.StatusUnauthorized && attempt == 0:
			f.forgetToken()
			continue
		case status == http.StatusNotFound || status == http.StatusBadRequest && strings.Contains(string(resp), "registration token"):
			return fmt.Errorf("%w: fcm answered %d: %s", ErrUnregistered, status, fcmMessage(resp))
		}
		return fmt.Errorf("push: fcm answered %d: %s", status, fcmMessage(resp))
	}
}

func (f *FCM) send(ctx context.Context, access string, body []byte) (int, []byte, error) {
	base := f.BaseURL
	if base == "" {
		base = "https://fcm.googleapis.com"
	}
	u := strings.TrimRight(base, "/") + "/v1/projects/" + url.PathEscape(f.Account.ProjectID) + "/messages:send"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("push: fcm: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client().Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("push: fcm: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("push: fcm: %w", err)
	}
	return resp.StatusCode, b, nil
}

// fcmMessage extracts the error message of an FCM answer.
func fcmMessage(b []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Status + ": " + e.Error.Message
	}
	return strings.TrimSpace(string(b))
}

func (f *FCM) forgetToken() {
	f.mu.Lock()
	f.token = ""
	f.mu.Unlock()
}

// accessToken returns a cached OAuth 2.0 access token, or gets a new one
// by signing a JWT with the service account key.
func (f *FCM) accessToken(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.token != "" && now.Before(f.expires) {
		return f.token, nil
	}
	assertion, err := f.jwt(now)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.Account.TokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("push: fcm token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("push: fcm token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("push: fcm token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("push: fcm token: the token endpoint answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("push: fcm token: unreadable answer: %s", strings.TrimSpace(string(b)))
	}
	f.token = t.AccessToken
	// Renew a minute early, so a token never expires in flight.
	f.expires = now.Add(time.Duration(t.ExpiresIn)*time.Second - time.Minute)
	return f.token, nil
}

// jwt signs the assertion of the JWT bearer grant (RFC 7523) with RS256.
func (f *FCM) jwt(now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(map[string]any{
		"iss":   f.Account.ClientEmail,
		"scope": fcmScope,
		"aud":   f.Account.TokenURI,
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("push: fcm jwt: %w", err)
	}
	signing := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, f.Account.PrivateKey, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("push: fcm jwt: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
