package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/inbox"
	"github.com/kontalk/xmppd/sm/presence"
)

// Reasons an account is deleted (log field and metric label).
const (
	ReasonOperator = "operator"
	ReasonInactive = "inactive"
)

// EndReason is the reason c2s gets for the sessions of a deleted
// account (docs/session-protocol.md §2).
const EndReason = "account-deleted"

// Accounts deletes accounts.
type Accounts struct {
	env      *core.Env
	inbox    *inbox.Inbox
	presence *presence.Presence
	// OnDeleted observes deletions (metrics).
	OnDeleted func(reason string)
}

// New returns the feature.
func New(env *core.Env, ib *inbox.Inbox, p *presence.Presence) *Accounts {
	return &Accounts{env: env, inbox: ib, presence: p}
}

// Delete ends the user's sessions, tells the user's contacts, and
// removes everything kept for the user. It reports whether the account
// existed. Run again after a failure, it finishes the job.
func (a *Accounts) Delete(ctx context.Context, u, reason string) (bool, error) {
	b := a.env.Store.Batch()
	userF := b.UserInfo(u)
	sessF := b.Sessions(u)
	rosterF := b.Roster(u)
	if err := b.Exec(ctx); err != nil {
		return false, fmt.Errorf("accounts: delete %s: %w", u, err)
	}
	sessions, err := sessF.Get()
	if err != nil {
		return false, fmt.Errorf("accounts: delete %s: %w", u, err)
	}
	roster, err := rosterF.Get()
	if err != nil {
		return false, fmt.Errorf("accounts: delete %s: %w", u, err)
	}
	if _, err := userF.Get(); err != nil && len(sessions) == 0 && len(roster.Items) == 0 {
		// Nothing to tell anyone; remove what may be left.
		_, derr := a.env.Store.Users.Delete(ctx, u)
		return false, derr
	}
	now := time.Now()
	for res, rec := range sessions {
		if err := a.env.Out.Envelope(ctx, &envelope.Envelope{To: rec.C2S, Action: envelope.ActionEnd, SID: rec.SID, Reason: EndReason}); err != nil {
			return false, err
		}
		if _, _, err := a.env.Store.Sessions.End(ctx, u, rec.SID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("accounts: end session: %w", err)
		}
		if err := a.presence.Ended(ctx, &core.Session{User: u, Resource: res, Session: rec}); err != nil {
			return false, err
		}
	}
	for contact, it := range roster.Items {
		// The contact's subscription to the user, and the user's to the
		// contact, both end (RFC 6121 §2.5.2).
		if it.Sub == store.SubFrom || it.Sub == store.SubBoth || it.In {
			if err := a.send(ctx, u, contact, "unsubscribed"); err != nil {
				return false, err
			}
		}
		if it.Sub == store.SubTo || it.Sub == store.SubBoth || it.Ask != "" {
			if err := a.send(ctx, u, contact, "unsubscribe"); err != nil {
				return false, err
			}
		}
	}
	existed, err := a.env.Store.Users.Delete(ctx, u)
	if err != nil {
		return false, fmt.Errorf("accounts: delete %s: %w", u, err)
	}
	if existed {
		if a.OnDeleted != nil {
			a.OnDeleted(reason)
		}
		a.env.Log.Info("account deleted", zap.String("user", u), zap.String("reason", reason),
			zap.Int("sessions", len(sessions)), zap.Int("contacts", len(roster.Items)))
	}
	return existed, nil
}

// send stores (for users of the network) and routes a subscription
// presence from the user to a contact.
func (a *Accounts) send(ctx context.Context, u, contact, typ string) error {
	raw := core.AppendPresence(nil, typ, core.NewID(), a.env.UserJID(u), contact, nil)
	top, err := core.ParseRaw(raw)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	st, err := core.ParseStanza(top, stream.NSClient)
	if err != nil {
		// A roster item that is no JID: nobody to tell.
		return nil
	}
	_, err = a.inbox.Send(ctx, st, raw)
	return err
}

// Purge deletes up to max users without a session who were last active
// before the given time, and returns how many it deleted.
func (a *Accounts) Purge(ctx context.Context, before time.Time, max int) (int, error) {
	users, err := a.env.Store.Users.Inactive(ctx, before, max)
	if err != nil {
		return 0, fmt.Errorf("accounts: purge: %w", err)
	}
	n := 0
	for _, u := range users {
		deleted, err := a.Delete(ctx, u, ReasonInactive)
		if err != nil {
			return n, err
		}
		if deleted {
			n++
		}
	}
	return n, nil
}
