package blocking

import (
	"context"
	"fmt"
	"slices"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/presence"
)

// maxItems bounds one block or unblock request.
const maxItems = 1000

// Blocking is the blocking command feature.
type Blocking struct {
	env      *core.Env
	presence *presence.Presence
}

// New returns the blocking feature.
func New(env *core.Env, p *presence.Presence) *Blocking { return &Blocking{env: env, presence: p} }

// HandleIQ answers blocklist gets and block/unblock sets from the user's
// own sessions.
func (b *Blocking) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Target != core.TargetSelf || iq.Session == nil {
		return nil, stanza.Errorf(stanza.Forbidden, "a blocking list belongs to its user")
	}
	switch {
	case iq.Type == "get" && iq.Payload.Local() == "blocklist":
		list, err := b.env.Store.Blocking.List(ctx, iq.User)
		if err != nil {
			return nil, fmt.Errorf("blocking: list: %w", err)
		}
		slices.Sort(list)
		el := xml.New("blocklist", core.NSBlocking)
		for _, j := range list {
			el.Append(xml.New("item", "", xml.Attr{Name: "jid", Value: j}))
		}
		return el, nil
	case iq.Type == "set" && iq.Payload.Local() == "block":
		jids, err := items(iq.Payload)
		if err != nil {
			return nil, err
		}
		if len(jids) == 0 {
			return nil, stanza.Errorf(stanza.BadRequest, "block names no JID")
		}
		if err := b.env.Store.Blocking.Add(ctx, iq.User, jids); err != nil {
			return nil, fmt.Errorf("blocking: block: %w", err)
		}
		if err := b.push(ctx, iq.User, "block", jids); err != nil {
			return nil, err
		}
		return nil, b.presenceTo(ctx, iq.User, jids, b.presence.SendUnavailable)
	case iq.Type == "set" && iq.Payload.Local() == "unblock":
		jids, err := items(iq.Payload)
		if err != nil {
			return nil, err
		}
		var unblocked []string
		if len(jids) == 0 {
			if unblocked, err = b.env.Store.Blocking.List(ctx, iq.User); err != nil {
				return nil, fmt.Errorf("blocking: unblock: %w", err)
			}
		} else {
			unblocked = jids
		}
		if err := b.env.Store.Blocking.Remove(ctx, iq.User, jids); err != nil {
			return nil, fmt.Errorf("blocking: unblock: %w", err)
		}
		if err := b.push(ctx, iq.User, "unblock", jids); err != nil {
			return nil, err
		}
		return nil, b.presenceTo(ctx, iq.User, unblocked, b.presence.SendCurrent)
	}
	return nil, stanza.Errorf(stanza.BadRequest, "unknown blocking request <%s/> of type %s", iq.Payload.Local(), iq.Type)
}

// items reads the JIDs of a block or unblock, in canonical form.
func items(el *xml.Element) ([]string, error) {
	var out []string
	for it := range el.ChildrenNamed("item", core.NSBlocking) {
		j, err := jid.Parse(it.Attr("jid"))
		if err != nil {
			return nil, stanza.Errorf(stanza.JIDMalformed, "item jid: %v", err)
		}
		if !slices.Contains(out, j.String()) {
			out = append(out, j.String())
		}
		if len(out) > maxItems {
			return nil, stanza.Errorf(stanza.NotAcceptable, "more than %d items", maxItems)
		}
	}
	return out, nil
}

// push tells every session of u what changed (XEP-0191 §3.3); no items
// in an unblock means everything.
func (b *Blocking) push(ctx context.Context, u, op string, jids []string) error {
	sessions, err := b.env.Store.Sessions.All(ctx, u)
	if err != nil {
		return fmt.Errorf("blocking: push: %w", err)
	}
	el := xml.New(op, core.NSBlocking)
	for _, j := range jids {
		el.Append(xml.New("item", "", xml.Attr{Name: "jid", Value: j}))
	}
	for res, rec := range sessions {
		s := &core.Session{User: u, Resource: res, Session: rec}
		raw := core.AppendIQ(nil, "set", "push"+core.NewID(), "", b.env.FullJID(s), el)
		if err := b.env.Out.Deliver(ctx, s, "", raw); err != nil {
			return err
		}
	}
	return nil
}

// presenceTo sends presence (current or unavailable) to the blocked or
// unblocked JIDs that are contacts subscribed to the user.
func (b *Blocking) presenceTo(ctx context.Context, u string, jids []string, send func(context.Context, string, string) error) error {
	if len(jids) == 0 {
		return nil
	}
	ros, err := b.env.Store.Rosters.Get(ctx, u)
	if err != nil {
		return fmt.Errorf("blocking: presence: %w", err)
	}
	for _, j := range jids {
		if it, ok := ros.Items[j]; ok && (it.Sub == store.SubFrom || it.Sub == store.SubBoth) {
			if err := send(ctx, u, j); err != nil {
				return err
			}
		}
	}
	return nil
}
