package lastactivity

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// NS is the last activity namespace.
const NS = "jabber:iq:last"

// LastActivity answers jabber:iq:last queries.
type LastActivity struct {
	env *core.Env
}

// New returns the last activity feature.
func New(env *core.Env) *LastActivity { return &LastActivity{env: env} }

func query(d time.Duration, status string) *xml.Element {
	q := xml.New("query", NS, xml.Attr{Name: "seconds", Value: strconv.FormatInt(int64(max(0, d/time.Second)), 10)})
	return q.AppendText(status)
}

// HandleIQ answers a last activity get.
func (l *LastActivity) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Type != "get" {
		return nil, stanza.Errorf(stanza.BadRequest, "last activity is only read")
	}
	switch iq.Target {
	case core.TargetDomain:
		return query(time.Since(l.env.Started), ""), nil
	case core.TargetSelf:
		return query(0, ""), nil
	case core.TargetUser:
	default:
		return nil, stanza.Errorf(stanza.ServiceUnavailable, "")
	}
	u := iq.User
	b := l.env.Store.Batch()
	itemF := b.RosterItem(u, iq.BareFrom())
	sessF := b.Sessions(u)
	infoF := b.UserInfo(u)
	if err := b.Exec(ctx); err != nil {
		return nil, fmt.Errorf("last activity of %s: %w", u, err)
	}
	info, err := infoF.Get()
	if errors.Is(err, store.ErrNotFound) {
		return nil, stanza.Errorf(stanza.ItemNotFound, "no such user")
	}
	if err != nil {
		return nil, err
	}
	it, err := itemF.Get()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if it == nil || it.Sub != store.SubFrom && it.Sub != store.SubBoth {
		return nil, stanza.Errorf(stanza.Forbidden, "not subscribed to the user's presence")
	}
	sessions, err := sessF.Get()
	if err != nil {
		return nil, err
	}
	for _, s := range sessions {
		if s.Avail {
			return query(0, ""), nil
		}
	}
	since := info.Seen
	if since.IsZero() {
		since = info.Created
	}
	return query(time.Since(since), info.Status), nil
}
