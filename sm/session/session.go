package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/presence"
)

// End reasons sm sends (docs/session-protocol.md §2).
const (
	ReasonConflict  = "conflict"
	ReasonUndefined = "undefined-condition"
	// ReasonGone ends a session whose c2s (or host) went away; it is
	// sent between sm instances only.
	ReasonGone = "gone"
)

// Manager handles the session lifecycle envelopes.
type Manager struct {
	env      *core.Env
	presence *presence.Presence
	trust    *keyring.Trust
	// OnStarted and OnEnded observe the lifecycle (metrics).
	OnStarted func()
	OnEnded   func(reason string)
}

// New returns the manager; trust is the set of server keys whose
// certifications log users in (nil refuses every auth).
func New(env *core.Env, p *presence.Presence, trust *keyring.Trust) *Manager {
	return &Manager{env: env, presence: p, trust: trust}
}

// Start opens (or updates) the session named in e for the user u.
func (m *Manager) Start(ctx context.Context, u string, e *envelope.Envelope) error {
	fail := func(c stanza.Condition, text string) error {
		return m.env.Out.Envelope(ctx, &envelope.Envelope{To: e.From, Action: envelope.ActionFailed, SID: e.SID, Error: &stanza.Error{Type: stanza.Cancel, Condition: c, Text: text}})
	}
	j, err := jid.Parse(e.JID)
	if err != nil || j.Localpart() != u || j.Domainpart() != m.env.Network || j.Resourcepart() == "" || e.SID == "" {
		return fail(stanza.BadRequest, "start needs a sid and the session's full JID in the network")
	}
	res := j.Resourcepart()
	b := m.env.Store.Batch()
	userF := b.UserInfo(u)
	curF := b.Session(u, res)
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("session start: %w", err)
	}
	if _, err := userF.Get(); errors.Is(err, store.ErrNotFound) {
		return fail(stanza.NotAuthorized, "no such account")
	} else if err != nil {
		return err
	}
	rec := store.Session{SID: e.SID, C2S: e.From, Host: m.env.Host, Since: time.Now().UnixMilli(), SM: e.SM}
	cur, err := curF.Get()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if cur != nil && cur.SID == e.SID {
		// A second start (XEP-0198 enabled later) updates the session.
		rec.Avail, rec.Prio, rec.Since = cur.Avail, cur.Prio, cur.Since
	}
	replaced, err := m.env.Store.Sessions.Start(ctx, u, res, rec)
	if err != nil {
		return fmt.Errorf("session start: %w", err)
	}
	if replaced != nil {
		old := &core.Session{User: u, Resource: res, Session: *replaced}
		if err := m.env.Out.Envelope(ctx, &envelope.Envelope{To: replaced.C2S, Action: envelope.ActionEnd, SID: replaced.SID, Reason: ReasonConflict}); err != nil {
			return err
		}
		if err := m.presence.Ended(ctx, old); err != nil {
			return err
		}
		m.ended(ReasonConflict)
	}
	if m.OnStarted != nil && (cur == nil || cur.SID != e.SID) {
		m.OnStarted()
	}
	return m.env.Out.Envelope(ctx, &envelope.Envelope{To: e.From, Action: envelope.ActionStarted, SID: e.SID, JID: j.String()})
}

func (m *Manager) ended(reason string) {
	if m.OnEnded != nil {
		m.OnEnded(reason)
	}
}

// End closes the session with e.SID of the user u, from its c2s (the
// stream closed) or from another sm instance (its c2s went away). It
// returns whether a session was ended.
func (m *Manager) End(ctx context.Context, u string, e *envelope.Envelope) (bool, error) {
	res, rec, err := m.env.Store.Sessions.End(ctx, u, e.SID, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("session end: %w", err)
	}
	reason := e.Reason
	if reason == "" {
		reason = "closed"
	}
	m.ended(reason)
	m.env.Log.Debug("session ended", zap.String("user", u), zap.String("resource", res), zap.String("sid", e.SID), zap.String("reason", reason), zap.Int("unacked", e.Unacked))
	return true, m.presence.Ended(ctx, &core.Session{User: u, Resource: res, Session: *rec})
}

// Fail tells the c2s that an envelope for the session sid could not be
// used, so the c2s closes that stream instead of waiting.
func (m *Manager) Fail(ctx context.Context, c2s, sid string) error {
	return m.env.Out.Envelope(ctx, &envelope.Envelope{To: c2s, Action: envelope.ActionEnd, SID: sid, Reason: ReasonUndefined})
}

// Auth checks the key a client logs in with (SASL EXTERNAL at c2s):
// accepted when the user has no stored fingerprint or the same one, or
// when the key is valid, certified by a trusted server key and newer
// than the stored one, which then replaces it. A user without an
// account who presents a certified key gets one, at this host.
func (m *Manager) Auth(ctx context.Context, u string, e *envelope.Envelope) error {
	reply := func(err *stanza.Error) error {
		action := envelope.ActionAuthorized
		if err != nil {
			action = envelope.ActionFailed
		}
		return m.env.Out.Envelope(ctx, &envelope.Envelope{To: e.From, Action: action, Conn: e.Conn, Error: err})
	}
	refuse := func(format string, args ...any) error {
		return reply(&stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized, Text: fmt.Sprintf(format, args...)})
	}
	if m.trust == nil {
		return refuse("the server has no key to check certifications with")
	}
	now := time.Now()
	id, err := keyring.Verify(e.Key, m.env.Network, m.trust, now)
	if err != nil {
		return refuse("%v", err)
	}
	if id.Localpart != u {
		return refuse("the key belongs to %s, not %s", id.JID, u)
	}
	user, err := m.env.Store.Users.Get(ctx, u)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, err := m.env.Store.Users.Create(ctx, u, store.User{Fingerprint: id.Fingerprint, Key: id.Ring, Home: m.env.Host}); err != nil {
			return fmt.Errorf("session auth: %w", err)
		}
		return reply(nil)
	case err != nil:
		return fmt.Errorf("session auth: %w", err)
	}
	if user.Fingerprint == "" || user.Fingerprint == id.Fingerprint {
		if user.Fingerprint == "" || !bytes.Equal(user.Key, id.Ring) {
			// A newer certification of the same key, or the first one.
			if err := m.env.Store.Users.SetKey(ctx, u, id.Fingerprint, id.Ring); err != nil {
				return fmt.Errorf("session auth: %w", err)
			}
		}
		return reply(nil)
	}
	// Another key: only a newer one replaces the stored key, unless the
	// stored key is no longer valid at all (revoked, expired).
	if old, err := keyring.Inspect(user.Key, m.env.Network, now); err == nil && !keyring.IsNewer(id, old) {
		return refuse("key %s is not newer than the registered key %s", id.Fingerprint, user.Fingerprint)
	}
	if err := m.env.Store.Users.SetKey(ctx, u, id.Fingerprint, id.Ring); err != nil {
		return fmt.Errorf("session auth: %w", err)
	}
	return reply(nil)
}
