package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/bridge"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// SASL failure conditions (RFC 6120 §6.5).
const (
	saslAborted           = "aborted"
	saslIncorrectEncoding = "incorrect-encoding"
	saslInvalidAuthzid    = "invalid-authzid"
	saslInvalidMechanism  = "invalid-mechanism"
	saslMalformedRequest  = "malformed-request"
	saslNotAuthorized     = "not-authorized"
	saslTemporaryAuthFail = "temporary-auth-failure"
)

const (
	mechanismExternal = "EXTERNAL"
	// maxAuthzidBytes bounds an authorization identity: a full JID at most.
	maxAuthzidBytes = 3071
)

// saslRequest is a parsed <auth/>.
type saslRequest struct {
	mechanism string
	authzid   string // empty: derive it from the credentials
}

// saslFailure is a refused <auth/>: the condition and a text for the
// client.
type saslFailure struct {
	cond, text string
}

// parseAuth reads <auth/> (RFC 6120 §6.4.2). The initial response "="
// means empty, and so does an <auth/> without text: Kontalk clients send
// the former, older ones the latter, and EXTERNAL needs nothing more.
func parseAuth(raw []byte, scope xml.Scope) (saslRequest, *saslFailure) {
	el, err := xml.Parse(raw, scope)
	if err != nil {
		return saslRequest{}, &saslFailure{saslMalformedRequest, "unreadable <auth/>"}
	}
	req := saslRequest{mechanism: el.Attr("mechanism")}
	if req.mechanism == "" {
		return req, &saslFailure{saslInvalidMechanism, "no mechanism named"}
	}
	if req.mechanism != mechanismExternal {
		return req, nil // refused by the caller; its data means nothing here
	}
	for range el.Elements() {
		return req, &saslFailure{saslMalformedRequest, "<auth/> holds elements"}
	}
	text := strings.TrimSpace(el.Text())
	if text == "" || text == "=" {
		return req, nil
	}
	authzid, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return req, &saslFailure{saslIncorrectEncoding, "the initial response is not base64"}
	}
	if len(authzid) == 0 || len(authzid) > maxAuthzidBytes || !utf8.Valid(authzid) || bytes.IndexByte(authzid, 0) >= 0 {
		return req, &saslFailure{saslInvalidAuthzid, "malformed authorization identity"}
	}
	req.authzid = string(authzid)
	return req, nil
}

// identity is what a client certificate proves.
type identity struct {
	localpart   string
	jid         string // bare, localpart@N
	fingerprint string
	created     time.Time
	ring        []byte
}

// authError is a refused certificate: a short reason (log field, metric
// label) and the text the client gets.
type authError struct {
	label, text string
	err         error
}

func (e *authError) Error() string { return e.label + ": " + e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// verify checks a client certificate for login (client-protocol §2): the
// bridge certificate's key ring extension holds a key certified for the
// network by a trusted server key, not revoked, not expired, with a user
// ID in the network, and the certificate's key is that key ring's master
// key. Certificate dates and signature algorithm are ignored.
func (s *Server) verify(der []byte, now time.Time) (*identity, error) {
	ring, err := bridge.PublicKeyRing(der)
	if err != nil {
		switch {
		case errors.Is(err, bridge.ErrNoKeyRing):
			return nil, &authError{"no-key-ring", "not a Kontalk bridge certificate: no OpenPGP key ring extension", err}
		case errors.Is(err, bridge.ErrMalformedKeyRing):
			return nil, &authError{"malformed-key-ring", "malformed OpenPGP key ring extension", err}
		}
		return nil, &authError{"malformed-certificate", "malformed certificate", err}
	}
	id, err := keyring.Verify(ring, s.opts.Network, s.opts.Trust, now)
	if err != nil {
		var ke *keyring.Error
		if errors.As(err, &ke) {
			return nil, &authError{slug(string(ke.Reason)), string(ke.Reason), err}
		}
		return nil, &authError{"verify-error", "the key could not be verified", err}
	}
	if err := bridge.MatchesKey(der, id.PublicKey); err != nil {
		if errors.Is(err, bridge.ErrKeyMismatch) {
			return nil, &authError{"key-mismatch", "the certificate's key is not the master key of its key ring", err}
		}
		return nil, &authError{"unsupported-key", "unsupported certificate key", err}
	}
	return &identity{localpart: id.Localpart, jid: id.JID, fingerprint: id.Fingerprint, created: id.Created, ring: id.Ring}, nil
}

// slug turns a reason into a metric label: lower case, words joined by '-'.
func slug(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), " ", "-")
}

// handleAuth handles what an unauthenticated client sends over TLS: SASL
// and the IQs allowed before authentication.
func (c *conn) handleAuth(top *xml.Top) *closeCause {
	ns := top.Value("xmlns")
	switch {
	case top.Is("auth") && ns == NSSASL:
		return c.authenticate(top)
	case top.Is("abort") && ns == NSSASL:
		return c.saslFail(&saslFailure{saslAborted, ""}, "aborted")
	case top.Is("iq"):
		return c.preAuthIQ(top)
	}
	return fail(stream.NotAuthorized, "authenticate first")
}

// authenticate runs SASL EXTERNAL.
func (c *conn) authenticate(top *xml.Top) *closeCause {
	req, f := parseAuth(top.Raw, c.r.Header().Scope)
	if f != nil {
		return c.saslFail(f, f.cond)
	}
	der := c.clientCertificate()
	if req.mechanism != mechanismExternal {
		return c.saslFail(&saslFailure{saslInvalidMechanism, "only EXTERNAL is offered"}, saslInvalidMechanism)
	}
	if der == nil {
		return c.saslFail(&saslFailure{saslInvalidMechanism, "EXTERNAL needs a TLS client certificate"}, "no-client-certificate")
	}
	if c.verified == nil && c.verifyErr == nil {
		c.verified, c.verifyErr = c.srv.verify(der, time.Now())
	}
	if c.verifyErr != nil {
		var ae *authError
		errors.As(c.verifyErr, &ae)
		c.logger().Info("client certificate refused", zap.String("why", ae.label), zap.Error(c.verifyErr))
		return c.saslFail(&saslFailure{saslNotAuthorized, ae.text}, ae.label)
	}
	id := c.verified
	if req.authzid != "" && !sameBareJID(req.authzid, id.jid) {
		return c.saslFail(&saslFailure{saslInvalidAuthzid, "the certificate is for " + id.jid}, saslInvalidAuthzid)
	}

	// sm decides whether this key may replace the one on record.
	c.mu.Lock()
	c.waiting, c.reply = actionAuth, nil
	c.mu.Unlock()
	env := c.srv.appendAuth(nil, id.localpart+"@"+c.srv.opts.Host, authInfo{
		connID: c.srv.connName(c.id), jid: id.jid, remote: c.remote.String(),
		fingerprint: id.fingerprint, created: id.created.Unix(), ring: id.ring,
	})
	if err := c.srv.send(env); err != nil {
		return &closeCause{reason: reasonShutdown}
	}
	reply, err := c.awaitReply()
	switch {
	case errors.Is(err, errClosing):
		return c.closeCause()
	case err != nil:
		return c.saslFail(&saslFailure{saslTemporaryAuthFail, "the session manager did not answer"}, "sm-timeout")
	case reply.action == actionFailed && reply.bounce:
		return c.saslFail(&saslFailure{saslTemporaryAuthFail, "the session manager is unreachable"}, "sm-unreachable")
	case reply.action == actionFailed:
		text := "refused by the session manager"
		if reply.err != nil && reply.err.Text != "" {
			text = reply.err.Text
		}
		c.logger().Info("login refused by sm", zap.String("jid", id.jid), zap.String("text", text))
		return c.saslFail(&saslFailure{saslNotAuthorized, text}, "refused-by-sm")
	}

	c.srv.m.auth.WithLabelValues("success").Inc()
	if !c.w.write([]byte("<success xmlns='" + NSSASL + "'/>")) {
		return &closeCause{reason: reasonWriteError}
	}
	c.mu.Lock()
	c.user = id.localpart
	c.mu.Unlock()
	c.verified = &identity{localpart: id.localpart, jid: id.jid, fingerprint: id.fingerprint}
	c.r.Restart()
	c.r.SetLimits(xml.Limits{MaxElementBytes: c.srv.opts.MaxStanza, MaxDepth: c.srv.opts.MaxDepth})
	c.opened = false
	c.phase = phaseBind
	c.deadline = time.Now().Add(c.srv.opts.PreAuthTimeout)
	return nil
}

// awaitReply waits for sm's answer to what c.waiting names.
func (c *conn) awaitReply() (*envelope, error) {
	var reply *envelope
	err := c.wait(c.srv.opts.SMTimeout, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		reply = c.reply
		return reply != nil
	})
	c.mu.Lock()
	c.waiting, c.reply = "", nil
	c.mu.Unlock()
	return reply, err
}

// answer hands an envelope for this connection to its goroutine if it
// waits for it; it runs on the router's goroutine.
func (c *conn) answer(e *envelope) bool {
	c.mu.Lock()
	ok := c.waiting == actionAuth && (e.action == actionAuthorized || e.action == actionFailed) ||
		c.waiting == actionRegister && (e.action == actionRegister || e.action == actionFailed)
	if ok {
		reply := *e
		reply.payload = bytes.Clone(e.payload)
		c.reply = &reply
	}
	c.mu.Unlock()
	if ok {
		c.poke()
	}
	return ok
}

// saslFail answers <auth/> with a failure, and closes the stream once the
// client has failed too often.
func (c *conn) saslFail(f *saslFailure, label string) *closeCause {
	c.srv.m.auth.WithLabelValues(label).Inc()
	buf := []byte("<failure xmlns='" + NSSASL + "'><" + f.cond + "/>")
	if f.text != "" {
		buf = append(buf, "<text>"...)
		buf = xml.AppendEscapedText(buf, f.text)
		buf = append(buf, "</text>"...)
	}
	buf = append(buf, "</failure>"...)
	if !c.w.write(buf) {
		return &closeCause{reason: reasonWriteError}
	}
	c.authFailures++
	if c.authFailures >= c.srv.opts.MaxAuthFailures {
		return &closeCause{reason: reasonAuthFailures, serr: &stream.Error{Condition: stream.PolicyViolation, Text: "too many failed authentications"}}
	}
	return nil
}

// sameBareJID reports whether the address a is the bare JID b.
func sameBareJID(a, b string) bool {
	got, ok := jid.AppendBare(nil, []byte(a))
	return ok && string(got) == b && !strings.Contains(a, "/")
}

// sameDomain reports whether the address a is the domain d.
func sameDomain(a, d string) bool {
	got, ok := jid.AppendDomain(nil, []byte(a))
	return ok && string(got) == d && !strings.ContainsAny(a, "@/")
}

// preAuthIQ answers the IQs an unauthenticated client may send: in-band
// registration (passed to sm, session-protocol §6) and pings.
func (c *conn) preAuthIQ(top *xml.Top) *closeCause {
	typ := top.Value("type")
	if typ == "result" || typ == "error" {
		return nil
	}
	el, err := xml.Parse(top.Raw, c.r.Header().Scope)
	if err != nil {
		return c.iqError(top, &stanza.Error{Condition: stanza.BadRequest, Text: "unreadable IQ"})
	}
	if to := el.Attr("to"); to != "" && !sameDomain(to, c.srv.opts.Network) {
		return c.iqError(top, &stanza.Error{Condition: stanza.NotAuthorized, Text: "authenticate first"})
	}
	var payload *xml.Element
	for ch := range el.Elements() {
		payload = ch
		break
	}
	switch {
	case payload != nil && payload.Space == NSRegister:
		return c.register(top)
	case payload != nil && payload.Space == NSPing && payload.Local() == "ping" && typ == "get":
		return c.iqResult(top)
	}
	return c.iqError(top, &stanza.Error{Condition: stanza.NotAuthorized, Text: "authenticate first"})
}

// register passes a registration request to sm and writes its answer.
func (c *conn) register(top *xml.Top) *closeCause {
	c.registers++
	if c.registers > c.srv.opts.MaxRegister {
		return fail(stream.PolicyViolation, "too many registration requests")
	}
	c.srv.m.registrations.Inc()
	c.mu.Lock()
	c.waiting, c.reply = actionRegister, nil
	c.mu.Unlock()
	env := c.srv.appendRegister(nil, c.srv.connName(c.id), c.remote.String(), c.clientCertificate(), top.Raw)
	if err := c.srv.send(env); err != nil {
		return &closeCause{reason: reasonShutdown}
	}
	reply, err := c.awaitReply()
	switch {
	case errors.Is(err, errClosing):
		return c.closeCause()
	case err != nil:
		return c.iqError(top, &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable, Text: "the session manager did not answer"})
	case reply.action == actionFailed:
		e := reply.err
		if reply.bounce || e == nil {
			e = &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable, Text: "the session manager is unreachable"}
		}
		return c.iqError(top, e)
	}
	if _, err := payloadTop(reply.payload); err != nil {
		c.logger().Warn("sm answered a registration with no stanza", zap.Error(err))
		return c.iqError(top, &stanza.Error{Condition: stanza.InternalServerError})
	}
	// Each step of a registration gets a fresh deadline: the user may
	// take a while to read the verification code.
	c.deadline = time.Now().Add(c.srv.opts.PreAuthTimeout)
	if !c.w.write(reply.payload) {
		return &closeCause{reason: reasonWriteError}
	}
	return nil
}

// iqError answers the client's IQ with an error.
func (c *conn) iqError(top *xml.Top, e *stanza.Error) *closeCause {
	if !c.w.write(stanza.AppendBounce(nil, top, e)) {
		return &closeCause{reason: reasonWriteError}
	}
	return nil
}

// iqResult answers the client's IQ with an empty result from the server.
func (c *conn) iqResult(top *xml.Top) *closeCause {
	buf := []byte("<iq type='result' from='")
	buf = xml.AppendEscapedAttr(buf, c.srv.opts.Network, '\'')
	buf = append(buf, '\'')
	if id, ok := top.Attr("id"); ok {
		buf = append(buf, " id='"...)
		buf = append(buf, bytes.ReplaceAll(id, []byte("'"), []byte("&apos;"))...)
		buf = append(buf, '\'')
	}
	if j := c.boundJID(); j != "" {
		buf = append(buf, " to='"...)
		buf = xml.AppendEscapedAttr(buf, j, '\'')
		buf = append(buf, '\'')
	}
	buf = append(buf, "/>"...)
	if !c.w.write(buf) {
		return &closeCause{reason: reasonWriteError}
	}
	return nil
}
