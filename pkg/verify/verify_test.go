package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestDummy(t *testing.T) {
	d := Dummy{Code: "123456"}
	p, err := d.Start(context.Background(), "+15555215554", PIN)
	if err != nil || p.From == "" {
		t.Fatalf("Start = %+v, %v", p, err)
	}
	for code, want := range map[string]bool{"123456": true, "123457": false, "": false, "1234567": false} {
		if ok, err := d.Check(context.Background(), "+15555215554", p, code); ok != want || err != nil {
			t.Errorf("Check(%q) = %v, %v", code, ok, err)
		}
	}
	if _, err := (Dummy{}).Start(context.Background(), "+1", PIN); err == nil {
		t.Error("dummy without a code started")
	}
}

func TestLog(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := Log{Log: zap.New(core)}
	p, err := l.Start(context.Background(), "+393471111111", PIN)
	if err != nil {
		t.Fatal(err)
	}
	entries := logs.FilterMessage("verification code").All()
	if len(entries) != 1 || entries[0].ContextMap()["code"] != p.Code || len(p.Code) != 6 {
		t.Fatalf("logged %+v for %+v", entries, p)
	}
	if ok, _ := l.Check(context.Background(), "+393471111111", p, p.Code); !ok {
		t.Error("logged code refused")
	}
	if _, err := l.Start(context.Background(), "+1", MissedCall); err != ErrUnsupported {
		t.Errorf("missed call: %v", err)
	}
}

// fakeTwilio implements the two Verify endpoints the provider uses, with
// the contract of Twilio's API: form posts with basic auth, JSON answers.
type fakeTwilio struct {
	mu    sync.Mutex
	codes map[string]string // phone → code sent
	calls []string
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "AC123" || pass != "token" {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.ParseForm()
	to := r.PostForm.Get("To")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.URL.Path+" "+r.PostForm.Encode())
	switch r.URL.Path {
	case "/v2/Services/VA456/Verifications":
		if !strings.HasPrefix(to, "+") {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"code": 60200, "message": "Invalid parameter `To`: " + to, "status": 400})
			return
		}
		f.codes[to] = "424242"
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"sid": "VE789", "status": "pending", "to": to, "channel": r.PostForm.Get("Channel"), "valid": false})
	case "/v2/Services/VA456/VerificationCheck":
		code, ok := f.codes[to]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"code": 20404, "message": "The requested resource was not found", "status": 404})
			return
		}
		status, valid := "pending", false
		if r.PostForm.Get("Code") == code {
			status, valid = "approved", true
			delete(f.codes, to)
		}
		json.NewEncoder(w).Encode(map[string]any{"sid": "VE789", "status": status, "valid": valid})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestTwilio(t *testing.T) {
	fake := &fakeTwilio{codes: map[string]string{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	tw := &Twilio{AccountSID: "AC123", AuthToken: "token", ServiceSID: "VA456", From: "Kontalk", BaseURL: srv.URL}
	ctx := context.Background()

	p, err := tw.Start(ctx, "+15555215554", PIN)
	if err != nil || p.Ref != "VE789" || p.From != "Kontalk" || p.Code != "" {
		t.Fatalf("Start = %+v, %v", p, err)
	}
	if ok, err := tw.Check(ctx, "+15555215554", p, "000000"); ok || err != nil {
		t.Errorf("wrong code: %v %v", ok, err)
	}
	if ok, err := tw.Check(ctx, "+15555215554", p, "424242"); !ok || err != nil {
		t.Errorf("right code: %v %v", ok, err)
	}
	// Used once: the verification is gone (404), so the code is wrong now.
	if ok, err := tw.Check(ctx, "+15555215554", p, "424242"); ok || err != nil {
		t.Errorf("reused code: %v %v", ok, err)
	}
	if _, err := tw.Start(ctx, "5555215554", PIN); err == nil || !strings.Contains(err.Error(), "Invalid parameter") {
		t.Errorf("bad number: %v", err)
	}
	tw.Voice = true
	if _, err := tw.Start(ctx, "+15555215554", PIN); err != nil {
		t.Fatal(err)
	}
	if last := fake.calls[len(fake.calls)-1]; !strings.Contains(last, "Channel=call") {
		t.Errorf("voice verification sent %s", last)
	}
	bad := *tw
	bad.AuthToken = "wrong"
	if _, err := bad.Start(ctx, "+15555215554", PIN); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong credentials: %v", err)
	}
	if _, err := tw.Start(ctx, "+15555215554", CallerID); err != ErrUnsupported {
		t.Errorf("caller id: %v", err)
	}
}
