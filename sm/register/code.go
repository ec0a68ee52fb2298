package register

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/bridge"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/phone"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/verify"
	"github.com/kontalk/xmppd/pkg/xml"
)

// requestCode starts the verification of a phone number (client-protocol
// §1.1).
func (r *Register) requestCode(ctx context.Context, f *form, req request) (*xml.Element, error) {
	if r.opts.TermsURL != "" && !f.bool("accept-terms") {
		return nil, stanza.Errorf(stanza.BadRequest, textTerms)
	}
	number, err := phone.Normalize(f.value("phone"))
	if err != nil {
		return nil, stanza.Errorf(stanza.BadRequest, textBadPhone)
	}
	u := phone.Localpart(number)
	// Throttling comes first, so that the conflict answer cannot be used
	// to find out quickly which numbers have accounts.
	if over, err := r.throttled(ctx, "addr:"+clientIP(req.remote), r.opts.AddrLimit); err != nil || over {
		return nil, errOr(err, tooMany())
	}
	if over, err := r.throttled(ctx, "phone:"+u, r.opts.PhoneLimit); err != nil || over {
		return nil, errOr(err, tooMany())
	}
	if !f.bool("force") {
		exists, err := r.env.Store.Users.Exist(ctx, []string{u})
		if err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
		if exists[0] {
			return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.Conflict, Text: textConflict}
		}
	}
	provider, canFallback := r.opts.Provider, r.opts.Fallback != nil
	if f.bool("fallback") && r.opts.Fallback != nil {
		provider, canFallback = r.opts.Fallback, false
	}
	ch := challengeFor(provider, verify.Challenge(f.value("challenge")))
	p, err := provider.Start(ctx, number, ch)
	if err != nil {
		r.env.Log.Warn("verification not started", zap.String("provider", provider.Name()), zap.String("user", u), zap.Error(err))
		return nil, stanza.Errorf(stanza.NotAcceptable, textUnverifiable)
	}
	pending := store.Pending{
		Phone: number, Provider: provider.Name(), Challenge: string(p.Challenge), From: p.From, Code: p.Code, Ref: p.Ref,
	}
	if err := r.env.Store.Registrations.Begin(ctx, u, pending, r.opts.PendingTTL); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	text := "A verification code is on its way; enter it to complete the registration."
	if p.Challenge == verify.CallerID {
		text = "Call the number given to complete the registration."
	}
	q := xml.New("query", NS)
	q.Append(xml.New("instructions", "").AppendText(text))
	x := newForm("form", NS, "", "")
	field(x, "from", "text-single", "Sender ID", p.From)
	field(x, "challenge", "text-single", "Challenge type", string(p.Challenge))
	if canFallback {
		field(x, "can-fallback", "boolean", "Fallback available", "true")
	}
	return q.Append(x), nil
}

// challengeFor picks the challenge to run: the one asked for when the
// provider runs it, else a code to type, else whatever it runs.
func challengeFor(p verify.Provider, asked verify.Challenge) verify.Challenge {
	if asked != "" && p.Supports(asked) {
		return asked
	}
	for _, c := range []verify.Challenge{verify.PIN, verify.MissedCall, verify.CallerID} {
		if p.Supports(c) {
			return c
		}
	}
	return verify.PIN
}

// verifyCode completes a registration: it checks the code for the key's
// user, certifies the key and makes the account (client-protocol §1.3).
func (r *Register) verifyCode(ctx context.Context, f *form, req request) (*xml.Element, error) {
	ring, certDER, err := presentedKey(f, req)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	id, err := keyring.Inspect(ring, r.env.Network, now)
	if err != nil {
		r.env.Log.Debug("registration key refused", zap.Error(err))
		return nil, stanza.Errorf(stanza.BadRequest, textBadKey)
	}
	if certDER != nil {
		if err := bridge.MatchesKey(certDER, id.PublicKey); err != nil {
			r.env.Log.Debug("registration certificate refused", zap.Error(err))
			return nil, stanza.Errorf(stanza.BadRequest, textBadKey)
		}
	}
	u := id.Localpart
	p, err := r.env.Store.Registrations.Pending(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return nil, stanza.Errorf(stanza.BadRequest, textBadCode)
	}
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	provider := r.provider(p.Provider)
	if provider == nil {
		return nil, stanza.Errorf(stanza.BadRequest, textBadCode)
	}
	ok, err := provider.Check(ctx, p.Phone, verify.Pending{Challenge: verify.Challenge(p.Challenge), From: p.From, Code: p.Code, Ref: p.Ref}, f.value("code"))
	if err != nil {
		r.env.Log.Warn("verification code not checked", zap.String("provider", provider.Name()), zap.String("user", u), zap.Error(err))
		return nil, stanza.Errorf(stanza.NotAcceptable, textUnverifiable)
	}
	if !ok {
		if _, err := r.env.Store.Registrations.Fail(ctx, u, r.opts.MaxAttempts); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("register: %w", err)
		}
		return nil, stanza.Errorf(stanza.BadRequest, textBadCode)
	}
	certified, err := r.opts.Signer.Certify(ring, r.env.Network, now)
	if err != nil {
		r.env.Log.Warn("key not certified", zap.String("user", u), zap.Error(err))
		return nil, stanza.Errorf(stanza.BadRequest, textBadKey)
	}
	// One verification completes once, even if two answers race.
	if done, err := r.env.Store.Registrations.Finish(ctx, u); err != nil || !done {
		return nil, errOr(err, stanza.Errorf(stanza.BadRequest, textBadCode))
	}
	if err := r.makeAccount(ctx, u, id.Fingerprint, certified); err != nil {
		return nil, err
	}
	if r.OnRegistered != nil {
		r.OnRegistered()
	}
	r.env.Log.Info("user registered", zap.String("user", u), zap.String("fingerprint", id.Fingerprint))
	x := newForm("form", NSCode, "", "")
	field(x, "publickey", "text-single", "Signed public key", base64.StdEncoding.EncodeToString(certified))
	return xml.New("query", NS).Append(x), nil
}

// presentedKey is the key ring of a code step: the publickey field, or
// the bridge certificate's (then also returned, to check its key).
func presentedKey(f *form, req request) (ring, certDER []byte, err error) {
	if v := f.value("publickey"); v != "" {
		ring, err := decodeBase64(v)
		if err != nil || len(ring) == 0 {
			return nil, nil, stanza.Errorf(stanza.BadRequest, textBadKey)
		}
		return ring, nil, nil
	}
	if req.cert == "" {
		return nil, nil, stanza.Errorf(stanza.BadRequest, textIncomplete)
	}
	der, err := base64.StdEncoding.DecodeString(req.cert)
	if err != nil {
		return nil, nil, stanza.Errorf(stanza.BadRequest, textBadKey)
	}
	if ring, err = bridge.PublicKeyRing(der); err != nil {
		return nil, nil, stanza.Errorf(stanza.BadRequest, textBadKey)
	}
	return ring, der, nil
}

// makeAccount stores the user's certified key. An account the number
// had with another key is deleted first (its contacts are told); the
// same key registering again keeps its account.
func (r *Register) makeAccount(ctx context.Context, u, fingerprint string, key []byte) error {
	old, err := r.env.Store.Users.Get(ctx, u)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("register: %w", err)
	case old.Fingerprint == fingerprint:
		return r.setKey(ctx, u, fingerprint, key)
	default:
		if _, err := r.accounts.Delete(ctx, u, ReasonReplaced); err != nil {
			return fmt.Errorf("register: replace the account: %w", err)
		}
	}
	created, err := r.env.Store.Users.Create(ctx, u, store.User{Fingerprint: fingerprint, Key: key, Home: r.env.Host})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if !created {
		// It logged in meanwhile (a key certified earlier): the new key wins.
		return r.setKey(ctx, u, fingerprint, key)
	}
	return nil
}

func (r *Register) setKey(ctx context.Context, u, fingerprint string, key []byte) error {
	if err := r.env.Store.Users.SetKey(ctx, u, fingerprint, key); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	return nil
}

// provider returns the configured provider with the name, or nil.
func (r *Register) provider(name string) verify.Provider {
	for _, p := range []verify.Provider{r.opts.Provider, r.opts.Fallback} {
		if p != nil && p.Name() == name {
			return p
		}
	}
	return nil
}

// decodeBase64 reads base64 as clients send it, line breaks included.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(c rune) rune {
		switch c {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return c
	}, s)
	return base64.StdEncoding.DecodeString(s)
}

// errOr returns err when it is set, else the stanza error.
func errOr(err error, se *stanza.Error) error {
	if err != nil {
		return err
	}
	return se
}
