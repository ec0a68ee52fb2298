package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Twilio verifies numbers through the Twilio Verify API (v2): Start
// creates a verification (the code goes out by SMS, or by a voice call
// with Voice set), Check asks Twilio whether the code is right. Twilio
// draws and keeps the code; the server never sees it.
type Twilio struct {
	AccountSID string
	AuthToken  string
	// ServiceSID is the Verify service (VA…) configured in Twilio.
	ServiceSID string
	// From is what clients are told the code comes from (Twilio does not
	// say which sender it used): a sender name or number.
	From string
	// Voice makes PIN challenges go out as calls instead of SMS.
	Voice bool
	// BaseURL is https://verify.twilio.com unless overridden (tests).
	BaseURL string
	// Client sends the requests (default: 10 s timeout).
	Client *http.Client
}

// Name implements Provider.
func (*Twilio) Name() string { return "twilio" }

// Supports implements Provider: Twilio Verify sends codes to type.
func (*Twilio) Supports(ch Challenge) bool { return ch == PIN }

// twilioVerification is the part of Twilio's answer the server reads.
type twilioVerification struct {
	SID    string `json:"sid"`
	Status string `json:"status"`
	Valid  bool   `json:"valid"`
}

// twilioError is Twilio's error body.
type twilioError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Start implements Provider.
func (t *Twilio) Start(ctx context.Context, phone string, ch Challenge) (Pending, error) {
	if !t.Supports(ch) {
		return Pending{}, ErrUnsupported
	}
	channel := "sms"
	if t.Voice {
		channel = "call"
	}
	var v twilioVerification
	status, err := t.post(ctx, "Verifications", url.Values{"To": {phone}, "Channel": {channel}}, &v)
	if err != nil {
		return Pending{}, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return Pending{}, fmt.Errorf("verify: twilio: starting a verification answered %d", status)
	}
	from := t.From
	if from == "" {
		from = "Kontalk"
	}
	return Pending{Challenge: ch, From: from, Ref: v.SID}, nil
}

// Check implements Provider. Twilio answers 404 for a verification that
// expired, was used, or never existed: a wrong code as far as the user
// is concerned.
func (t *Twilio) Check(ctx context.Context, phone string, _ Pending, code string) (bool, error) {
	if code == "" {
		return false, nil
	}
	var v twilioVerification
	status, err := t.post(ctx, "VerificationCheck", url.Values{"To": {phone}, "Code": {code}}, &v)
	if err != nil {
		return false, err
	}
	switch status {
	case http.StatusOK, http.StatusCreated:
		return v.Status == "approved" && v.Valid, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("verify: twilio: checking a code answered %d", status)
}

// post sends a form to the Verify service and decodes a 2xx answer into
// out; 404 comes back as a status without error, other failures as
// errors naming Twilio's message.
func (t *Twilio) post(ctx context.Context, resource string, form url.Values, out any) (int, error) {
	base := t.BaseURL
	if base == "" {
		base = "https://verify.twilio.com"
	}
	u := strings.TrimRight(base, "/") + "/v2/Services/" + url.PathEscape(t.ServiceSID) + "/" + resource
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, fmt.Errorf("verify: twilio: %w", err)
	}
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("verify: twilio: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, fmt.Errorf("verify: twilio: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300:
		var e twilioError
		json.Unmarshal(body, &e)
		return resp.StatusCode, fmt.Errorf("verify: twilio: %s %d: %s (code %d)", resource, resp.StatusCode, e.Message, e.Code)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("verify: twilio: %s: %w", resource, err)
	}
	return resp.StatusCode, nil
}
