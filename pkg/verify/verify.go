// Package verify proves that a registering user owns a phone number
// (client-protocol §1.1, §1.3): a Provider starts a challenge for an
// E.164 number and later checks the code the user typed. Providers:
// Dummy (a code fixed in the configuration, for development and tests),
// Log (a random code written to the log, for operators testing without
// an SMS account) and Twilio (SMS or voice through the Twilio Verify
// API).
package verify

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"

	"go.uber.org/zap"
)

// Challenge is how the user proves ownership (client-protocol §1.1).
type Challenge string

// Challenges clients ask for.
const (
	// PIN: a code sent by SMS (or read by a voice call); the user types it.
	PIN Challenge = "pin"
	// MissedCall: a call from a number whose last digits are the code.
	MissedCall Challenge = "missedcall"
	// CallerID: the user calls a number; the provider checks the caller.
	CallerID Challenge = "callerid"
)

// Pending is a challenge started for a number: what the client is told
// and what the check needs. It is stored with the pending registration.
type Pending struct {
	Challenge Challenge `json:"challenge"`
	// From is the sender ID, the number the code comes from, or the
	// number to call: Kontalk clients require it in the reply.
	From string `json:"from"`
	// Code is the expected code when the server checks it itself
	// (Dummy, Log); empty when the provider checks it.
	Code string `json:"code,omitempty"`
	// Ref is the provider's reference for the verification, if any.
	Ref string `json:"ref,omitempty"`
}

// Provider starts and checks verifications.
type Provider interface {
	// Name identifies the provider in logs and configuration.
	Name() string
	// Supports reports whether the provider can run the challenge.
	Supports(Challenge) bool
	// Start begins verifying phone (E.164) with the challenge.
	Start(ctx context.Context, phone string, ch Challenge) (Pending, error)
	// Check reports whether code proves ownership of phone for p. A wrong
	// code is (false, nil); an error means the check could not be made.
	Check(ctx context.Context, phone string, p Pending, code string) (bool, error)
}

// ErrUnsupported is returned by Start for a challenge the provider does
// not run.
var ErrUnsupported = errors.New("verify: challenge not supported by this provider")

// sameCode compares codes in constant time.
func sameCode(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// Dummy accepts one code fixed in the configuration, for development
// and tests. It sends nothing.
type Dummy struct {
	Code string // the code every verification accepts
	From string // sender shown to clients (default "Kontalk")
}

// Name implements Provider.
func (Dummy) Name() string { return "dummy" }

// Supports implements Provider: the dummy "runs" every challenge.
func (Dummy) Supports(Challenge) bool { return true }

// Start implements Provider.
func (d Dummy) Start(_ context.Context, _ string, ch Challenge) (Pending, error) {
	if d.Code == "" {
		return Pending{}, errors.New("verify: the dummy provider has no code configured")
	}
	from := d.From
	if from == "" {
		from = "Kontalk"
	}
	return Pending{Challenge: ch, From: from, Code: d.Code}, nil
}

// Check implements Provider.
func (Dummy) Check(_ context.Context, _ string, p Pending, code string) (bool, error) {
	return sameCode(p.Code, code), nil
}

// Log draws a random code for each verification and writes it to the
// log, where an operator can read it and pass it on.
type Log struct {
	Log    *zap.Logger
	From   string // sender shown to clients (default "Kontalk")
	Digits int    // code length (default 6)
}

// Name implements Provider.
func (Log) Name() string { return "log" }

// Supports implements Provider: codes to type only.
func (Log) Supports(ch Challenge) bool { return ch == PIN }

// Start implements Provider.
func (l Log) Start(_ context.Context, phone string, ch Challenge) (Pending, error) {
	if !l.Supports(ch) {
		return Pending{}, ErrUnsupported
	}
	code, err := randomDigits(max(l.Digits, 6))
	if err != nil {
		return Pending{}, err
	}
	from := l.From
	if from == "" {
		from = "Kontalk"
	}
	if l.Log != nil {
		l.Log.Info("verification code", zap.String("phone", phone), zap.String("code", code))
	}
	return Pending{Challenge: ch, From: from, Code: code}, nil
}

// Check implements Provider.
func (Log) Check(_ context.Context, _ string, p Pending, code string) (bool, error) {
	return sameCode(p.Code, code), nil
}

// randomDigits returns n decimal digits from crypto/rand.
func randomDigits(n int) (string, error) {
	b := make([]byte, n)
	ten := big.NewInt(10)
	for i := range b {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			return "", fmt.Errorf("verify: random code: %w", err)
		}
		b[i] = byte('0' + d.Int64())
	}
	return string(b), nil
}
