package register

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/verify"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// Namespaces.
const (
	NS           = "jabber:iq:register"
	NSCode       = "http://kontalk.org/protocol/register#code"
	NSKey        = "http://kontalk.org/protocol/register#key"
	NSPrivateKey = "http://kontalk.org/protocol/register#privatekey"
	NSAccount    = "http://kontalk.org/protocol/register#account"
)

// The error texts Kontalk's server answers with (client-protocol §1).
const (
	textConflict      = "Another user is registered with the same id."
	textThrottled     = "Too many attempts."
	textBadPhone      = "Bad phone number."
	textUnverifiable  = "Unable to verify number."
	textTerms         = "Service terms were not accepted."
	textNotAllowed    = "Registration is not allowed for this domain."
	textBadCode       = "Invalid verification code."
	textBadKey        = "Invalid public key."
	textIncomplete    = "Please provide either a phone number or a public key and a verification code."
	textBadRevocation = "Invalid revocation key."
	textBadToken      = "Invalid private key token."
	textBadPrivateKey = "Invalid private key."
)

// ReasonReplaced is the reason an account is deleted for when its
// number registers again.
const ReasonReplaced = "replaced"

// Accounts deletes accounts: a registration replaces the account its
// number had.
type Accounts interface {
	// Delete ends the user's sessions, tells the user's contacts and
	// removes everything kept for the user.
	Delete(ctx context.Context, u, reason string) (bool, error)
}

// Options configure registration. Zero values take the defaults.
type Options struct {
	// Provider verifies phone numbers; nil disables registration (key
	// rollover and private key transfer still work).
	Provider verify.Provider
	// Fallback, when set, serves requests with fallback=true (a voice
	// call when the SMS did not arrive, say).
	Fallback verify.Provider
	// Signer is the network's current server key, which certifies the
	// users' keys; registration and rollover need it.
	Signer *keyring.ServerKey
	// TermsURL, when set, makes clients show the service terms and
	// accept them before registering.
	TermsURL string
	// PendingTTL is how long a verification waits for its code
	// (default 15m).
	PendingTTL time.Duration
	// MaxAttempts is the number of wrong codes after which a
	// verification is dropped (default 5).
	MaxAttempts int
	// PhoneLimit and AddrLimit bound the verifications started per phone
	// number and per client address within ThrottleWindow (defaults 5,
	// 20, 1h). AddrLimit also bounds private key retrievals.
	PhoneLimit, AddrLimit int
	ThrottleWindow        time.Duration
	// PrivateKeyTTL is how long a private key waits for its transfer
	// (default 1h).
	PrivateKeyTTL time.Duration
}

func (o *Options) setDefaults() {
	if o.PendingTTL <= 0 {
		o.PendingTTL = 15 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.PhoneLimit <= 0 {
		o.PhoneLimit = 5
	}
	if o.AddrLimit <= 0 {
		o.AddrLimit = 20
	}
	if o.ThrottleWindow <= 0 {
		o.ThrottleWindow = time.Hour
	}
	if o.PrivateKeyTTL <= 0 {
		o.PrivateKeyTTL = time.Hour
	}
}

// Register answers registration requests.
type Register struct {
	env      *core.Env
	opts     Options
	accounts Accounts
	// OnRegistered observes completed registrations (metrics).
	OnRegistered func()
}

// New returns the registration feature.
func New(env *core.Env, opts Options, accounts Accounts) *Register {
	opts.setDefaults()
	return &Register{env: env, opts: opts, accounts: accounts}
}

// Enabled reports whether new users can register: a verification
// provider and the server's private key are configured.
func (r *Register) Enabled() bool { return r.opts.Provider != nil && r.opts.Signer != nil }

// request is a pre-authentication request: where it came from.
type request struct {
	remote string // the client's address, host:port
	cert   string // the bridge certificate the client presented, base64
}

// HandleEnvelope answers a registration request c2s forwarded for an
// unauthenticated connection, with a register envelope carrying the
// reply IQ.
func (r *Register) HandleEnvelope(ctx context.Context, e *envelope.Envelope) error {
	if e.Stanza == nil {
		return nil
	}
	st, err := core.ParseStanza(e.Stanza, stream.NSClient)
	if err != nil || !st.IsRequest() {
		return nil
	}
	from := ""
	if st.HasTo {
		from = st.To.String()
	}
	result, err := r.preAuth(ctx, st, request{remote: e.Remote, cert: e.Cert})
	var raw []byte
	var se *stanza.Error
	switch {
	case err == nil:
		raw = core.AppendIQ(nil, "result", st.ID, from, "", result)
	case errors.As(err, &se):
		raw = core.AppendError(nil, st, from, se)
	case store.Temporary(err):
		return err
	default:
		r.env.Log.Error("registration failed", zap.Error(err))
		raw = core.AppendError(nil, st, from, &stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError})
	}
	top, err := core.ParseRaw(raw)
	if err != nil {
		return fmt.Errorf("register: reply: %w", err)
	}
	return r.env.Out.Envelope(ctx, &envelope.Envelope{To: e.From, Action: envelope.ActionRegister, Conn: e.Conn, Stanza: top})
}

// preAuth answers the requests of a connection that has no account.
func (r *Register) preAuth(ctx context.Context, st *core.Stanza, req request) (*xml.Element, error) {
	q := st.Payload()
	if q == nil || q.Local() != "query" || q.Space != NS {
		return nil, stanza.Errorf(stanza.BadRequest, "not a registration query")
	}
	if st.Type == "get" {
		if acc := q.Child("account", NSAccount); acc != nil {
			return r.retrievePrivateKey(ctx, acc, req)
		}
		if !r.Enabled() {
			return nil, notAllowed()
		}
		return r.instructions(false), nil
	}
	if !r.Enabled() {
		return nil, notAllowed()
	}
	f, ok := parseForm(q)
	switch {
	case !ok:
		return nil, stanza.Errorf(stanza.BadRequest, textIncomplete)
	case f.formType() == NSCode || f.has("code"):
		return r.verifyCode(ctx, f, req)
	case f.has("phone"):
		return r.requestCode(ctx, f, req)
	}
	return nil, stanza.Errorf(stanza.BadRequest, textIncomplete)
}

func notAllowed() *stanza.Error { return stanza.Errorf(stanza.NotAllowed, textNotAllowed) }

// HandleIQ answers jabber:iq:register on an authenticated session: key
// rollover and private key upload; a get says the user is registered.
func (r *Register) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Session == nil {
		return nil, stanza.Errorf(stanza.Forbidden, "registration is for the network's users")
	}
	if iq.Type == "get" {
		return r.instructions(true), nil
	}
	f, ok := parseForm(iq.Payload)
	if !ok {
		return nil, stanza.Errorf(stanza.BadRequest, "a data form is required")
	}
	switch {
	case f.formType() == NSPrivateKey || f.has("privatekey"):
		return r.uploadPrivateKey(ctx, iq.User, f)
	case f.formType() == NSKey || f.has("publickey"):
		return r.rollover(ctx, iq.User, f)
	}
	return nil, stanza.Errorf(stanza.BadRequest, "unknown registration form")
}

// instructions is the form clients fill in (client-protocol §1.0).
func (r *Register) instructions(registered bool) *xml.Element {
	q := xml.New("query", NS)
	if registered {
		q.Append(xml.New("registered", ""))
	}
	text := "Please provide your phone number in international format (+ and the country code). A verification code will be sent to it."
	q.Append(xml.New("instructions", "").AppendText(text))
	x := newForm("form", NS, "Kontalk registration", text)
	field(x, "phone", "text-single", "Phone number").Append(xml.New("required", ""))
	field(x, "force", "boolean", "Force registration", "false")
	field(x, "fallback", "boolean", "Fallback verification", "false")
	ch := field(x, "challenge", "list-single", "Challenge type", string(verify.PIN))
	for _, c := range []verify.Challenge{verify.PIN, verify.MissedCall, verify.CallerID} {
		if r.opts.Provider != nil && r.opts.Provider.Supports(c) {
			ch.Append(xml.New("option", "").Append(xml.New("value", "").AppendText(string(c))))
		}
	}
	if r.opts.TermsURL != "" {
		field(x, "accept-terms", "boolean", "Accept the service terms").Append(xml.New("required", ""))
		field(x, "terms", "hidden", "", r.opts.TermsURL)
	}
	return q.Append(x)
}

// clientIP is the address part of a host:port.
func clientIP(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// throttled counts a request against the limit under key.
func (r *Register) throttled(ctx context.Context, key string, limit int) (bool, error) {
	n, err := r.env.Store.Registrations.Throttle(ctx, key, r.opts.ThrottleWindow)
	if err != nil {
		return false, fmt.Errorf("register: throttle: %w", err)
	}
	return n > int64(limit), nil
}

func tooMany() *stanza.Error {
	return &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable, Text: textThrottled}
}
