package roster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/inbox"
	"github.com/kontalk/xmppd/sm/presence"
)

// NS is the roster namespace.
const NS = "jabber:iq:roster"

// Bounds of a roster set.
const (
	maxGroups    = 32
	maxNameBytes = 1024
)

// Roster is the roster and subscription feature.
type Roster struct {
	env      *core.Env
	inbox    *inbox.Inbox
	presence *presence.Presence
}

// New returns the roster feature.
func New(env *core.Env, ib *inbox.Inbox, p *presence.Presence) *Roster {
	return &Roster{env: env, inbox: ib, presence: p}
}

// HandleIQ answers roster gets and sets from the user's own sessions.
func (r *Roster) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Target != core.TargetSelf || iq.Session == nil {
		return nil, stanza.Errorf(stanza.Forbidden, "a roster belongs to its user")
	}
	switch iq.Type {
	case "get":
		return r.get(ctx, iq)
	case "set":
		return nil, r.set(ctx, iq)
	}
	return nil, stanza.Errorf(stanza.BadRequest, "roster IQ of type %q", iq.Type)
}

func (r *Roster) get(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	ros, err := r.env.Store.Rosters.Get(ctx, iq.User)
	if err != nil {
		return nil, fmt.Errorf("roster: get: %w", err)
	}
	ver := strconv.FormatInt(ros.Version, 10)
	if v, ok := iq.Payload.Lookup("ver"); ok && v == ver {
		return nil, nil // unchanged (RFC 6121 §2.6.3)
	}
	q := xml.New("query", NS, xml.Attr{Name: "ver", Value: ver})
	contacts := make([]string, 0, len(ros.Items))
	for c := range ros.Items {
		contacts = append(contacts, c)
	}
	slices.Sort(contacts)
	for _, c := range contacts {
		it := ros.Items[c]
		if it.Visible() {
			q.Append(itemElement(c, &it))
		}
	}
	return q, nil
}

// itemElement is the <item/> of a roster result or push; nil it is a
// removal.
func itemElement(contact string, it *store.Item) *xml.Element {
	el := xml.New("item", "", xml.Attr{Name: "jid", Value: contact})
	if it == nil {
		return el.SetAttr("subscription", "remove")
	}
	el.SetAttr("subscription", it.Sub)
	if it.Name != "" {
		el.SetAttr("name", it.Name)
	}
	if it.Ask != "" {
		el.SetAttr("ask", it.Ask)
	}
	if it.Pre {
		el.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		el.Append(xml.New("group", "").AppendText(g))
	}
	return el
}

func (r *Roster) set(ctx context.Context, iq *core.IQ) error {
	var items []*xml.Element
	for it := range iq.Payload.ChildrenNamed("item", NS) {
		items = append(items, it)
	}
	if len(items) != 1 {
		return stanza.Errorf(stanza.BadRequest, "a roster set carries one item")
	}
	item := items[0]
	j, err := jid.Parse(item.Attr("jid"))
	if err != nil {
		return stanza.Errorf(stanza.JIDMalformed, "item jid: %v", err)
	}
	contact := j.Bare().String()
	if contact == r.env.UserJID(iq.User) {
		return stanza.Errorf(stanza.NotAllowed, "the user is not an item of their own roster")
	}
	cur, err := r.env.Store.Rosters.Item(ctx, iq.User, contact)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("roster: set: %w", err)
	}
	if item.Attr("subscription") == "remove" {
		if cur == nil {
			return stanza.Errorf(stanza.ItemNotFound, "%s is not in the roster", contact)
		}
		return r.remove(ctx, iq.User, contact, cur)
	}
	if cur == nil {
		cur = &store.Item{Sub: store.SubNone}
	}
	name := item.Attr("name")
	if len(name) > maxNameBytes {
		return stanza.Errorf(stanza.NotAcceptable, "item name longer than %d bytes", maxNameBytes)
	}
	cur.Name = name
	cur.Groups = nil
	for g := range item.ChildrenNamed("group", NS) {
		if t := g.Text(); t != "" && !slices.Contains(cur.Groups, t) {
			cur.Groups = append(cur.Groups, t)
		}
	}
	if len(cur.Groups) > maxGroups {
		return stanza.Errorf(stanza.NotAcceptable, "more than %d groups", maxGroups)
	}
	return r.save(ctx, iq.User, contact, cur, true)
}

// remove deletes an item, cancelling the subscriptions both ways
// (RFC 6121 §2.5.2).
func (r *Roster) remove(ctx context.Context, u, contact string, it *store.Item) error {
	to, err := jid.Parse(contact)
	if err != nil {
		return stanza.Errorf(stanza.JIDMalformed, "%v", err)
	}
	if it.Sub == store.SubTo || it.Sub == store.SubBoth || it.Ask != "" {
		if err := r.sendGenerated(ctx, u, to, "unsubscribe"); err != nil {
			return err
		}
	}
	if it.Sub == store.SubFrom || it.Sub == store.SubBoth || it.In {
		if err := r.sendGenerated(ctx, u, to, "unsubscribed"); err != nil {
			return err
		}
	}
	ver, err := r.env.Store.Rosters.Remove(ctx, u, contact)
	if err != nil {
		return fmt.Errorf("roster: remove: %w", err)
	}
	return r.push(ctx, u, contact, nil, ver)
}

// save writes an item and pushes it to the user's sessions when the
// roster shows it.
func (r *Roster) save(ctx context.Context, u, contact string, it *store.Item, pushIt bool) error {
	ver, err := r.env.Store.Rosters.Put(ctx, u, contact, *it)
	if err != nil {
		return fmt.Errorf("roster: save: %w", err)
	}
	if !pushIt {
		return nil
	}
	return r.push(ctx, u, contact, it, ver)
}

// push sends a roster push (RFC 6121 §2.1.6) to every session of u.
func (r *Roster) push(ctx context.Context, u, contact string, it *store.Item, ver int64) error {
	sessions, err := r.env.Store.Sessions.All(ctx, u)
	if err != nil {
		return fmt.Errorf("roster: push: %w", err)
	}
	q := xml.New("query", NS, xml.Attr{Name: "ver", Value: strconv.FormatInt(ver, 10)})
	q.Append(itemElement(contact, it))
	for res, rec := range sessions {
		s := &core.Session{User: u, Resource: res, Session: rec}
		raw := core.AppendIQ(nil, "set", "push"+core.NewID(), "", r.env.FullJID(s), q)
		if err := r.env.Out.Deliver(ctx, s, "", raw); err != nil {
			return err
		}
	}
	return nil
}

// sendGenerated sends a subscription presence the server makes on the
// user's behalf.
func (r *Roster) sendGenerated(ctx context.Context, u string, to jid.JID, typ string) error {
	raw := core.AppendPresence(nil, typ, core.NewID(), r.env.UserJID(u), to.String(), nil)
	_, err := r.sendRaw(ctx, raw)
	return err
}

// sendRaw stores and routes a stanza sm built.
func (r *Roster) sendRaw(ctx context.Context, raw []byte) (store.PutResult, error) {
	top, err := core.ParseRaw(raw)
	if err != nil {
		return 0, fmt.Errorf("roster: %w", err)
	}
	st, err := core.ParseStanza(top, stream.NSClient)
	if err != nil {
		return 0, fmt.Errorf("roster: %w", err)
	}
	return r.inbox.Send(ctx, st, raw)
}

// Outbound handles a subscription presence (subscribe, subscribed,
// unsubscribe, unsubscribed) from the session s: it updates the user's
// roster and sends the presence on, stamped with the user's bare JID.
// A subscribe gets the user's key attached; a subscribed without a
// pending request is a pre-approval and goes nowhere.
func (r *Roster) Outbound(ctx context.Context, s *core.Session, st *core.Stanza) error {
	contact := st.To.Bare().String()
	me := r.env.UserJID(s.User)
	if contact == me {
		return nil
	}
	b := r.env.Store.Batch()
	itemF := b.RosterItem(s.User, contact)
	var userF *store.Future[*store.User]
	if st.Type == "subscribe" {
		userF = b.User(s.User)
	}
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("roster: subscription: %w", err)
	}
	it, err := itemF.Get()
	existed := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if !existed {
		it = &store.Item{Sub: store.SubNone}
	}
	before := *it
	route := true
	switch st.Type {
	case "subscribe":
		if it.Sub != store.SubTo && it.Sub != store.SubBoth {
			it.Ask = "subscribe"
		}
	case "subscribed":
		switch {
		case it.Sub == store.SubFrom || it.Sub == store.SubBoth:
			route = false
		case it.In:
			it.Sub = withFrom(it.Sub)
			it.In, it.Pre = false, false
		default:
			it.Pre = true
			route = false
		}
	case "unsubscribe":
		it.Sub = withoutTo(it.Sub)
		it.Ask = ""
	case "unsubscribed":
		it.Sub = withoutFrom(it.Sub)
		it.In, it.Pre = false, false
	default:
		return nil
	}
	if err := r.update(ctx, s.User, contact, existed, &before, it); err != nil {
		return err
	}
	if !route {
		return nil
	}
	raw := st.Top.AppendWithAttr(nil, "from", me)
	if st.ID == "" {
		if t, err := core.ParseRaw(raw); err == nil {
			raw = t.AppendWithAttr(nil, "id", core.NewID())
		}
	}
	if userF != nil && !hasPubkey(st) {
		user, err := userF.Get()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if user != nil && len(user.Key) > 0 {
			raw = core.InsertChild(raw, appendKey(nil, user.Key, user.Fingerprint))
		}
	}
	res, err := r.sendRaw(ctx, raw)
	if err != nil {
		return err
	}
	switch res {
	case store.UnknownUser:
		return r.env.Out.Deliver(ctx, s, "", core.AppendError(nil, st, contact, stanza.Errorf(stanza.ItemNotFound, "no such user")))
	case store.Stored, store.Duplicate:
	default:
		return nil
	}
	switch st.Type {
	case "subscribed":
		return r.presence.SendCurrent(ctx, s.User, contact)
	case "unsubscribed":
		return r.presence.SendUnavailable(ctx, s.User, contact)
	}
	return nil
}

// update saves an item that changed, pushing it when the roster shows it
// now or showed it before; an item that never existed and holds nothing
// is not written.
func (r *Roster) update(ctx context.Context, u, contact string, existed bool, before, after *store.Item) error {
	if existed && sameItem(before, after) {
		return nil
	}
	if !existed && !after.Visible() && !after.In {
		return nil
	}
	return r.save(ctx, u, contact, after, before.Visible() || after.Visible())
}

func sameItem(a, b *store.Item) bool {
	return a.Sub == b.Sub && a.Ask == b.Ask && a.Pre == b.Pre && a.In == b.In && a.Name == b.Name && slices.Equal(a.Groups, b.Groups)
}

func hasPubkey(st *core.Stanza) bool {
	for c := range st.El.Elements() {
		if c.Space == core.NSPubkey {
			return true
		}
	}
	return false
}

// appendKey appends the key element attached to a subscribe.
func appendKey(dst, key []byte, fingerprint string) []byte {
	dst = append(dst, "<pubkey xmlns='"+core.NSPubkey+"'><key>"...)
	dst = base64.StdEncoding.AppendEncode(dst, key)
	dst = append(dst, "</key><print>"...)
	dst = xml.AppendEscapedText(dst, fingerprint)
	return append(dst, "</print></pubkey>"...)
}

// Subscription state transitions.
func withFrom(sub string) string {
	if sub == store.SubTo || sub == store.SubBoth {
		return store.SubBoth
	}
	return store.SubFrom
}

func withTo(sub string) string {
	if sub == store.SubFrom || sub == store.SubBoth {
		return store.SubBoth
	}
	return store.SubTo
}

func withoutFrom(sub string) string {
	if sub == store.SubBoth || sub == store.SubTo {
		return store.SubTo
	}
	return store.SubNone
}

func withoutTo(sub string) string {
	if sub == store.SubBoth || sub == store.SubFrom {
		return store.SubFrom
	}
	return store.SubNone
}

// Inbound handles a subscription presence for the user u from someone
// else, arriving live or delivered from the inbox (rid names its entry,
// empty when it has none). It updates u's roster and reports whether the
// stanza goes on to u's client; when it does not, its inbox entry is
// removed. An approved or pre-approved subscribe is answered by the
// server.
func (r *Roster) Inbound(ctx context.Context, u string, st *core.Stanza, rid string) (bool, error) {
	contact := st.BareFrom()
	if contact == r.env.UserJID(u) || st.From.Localpart() == "" {
		return false, r.ack(ctx, u, rid)
	}
	it, err := r.env.Store.Rosters.Item(ctx, u, contact)
	existed := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("roster: inbound subscription: %w", err)
	}
	if !existed {
		it = &store.Item{Sub: store.SubNone}
	}
	before := *it
	deliver := true
	var reply string
	switch st.Type {
	case "subscribe":
		switch {
		case it.Sub == store.SubFrom || it.Sub == store.SubBoth:
			deliver, reply = false, "subscribed"
		case it.Pre:
			it.Sub = withFrom(it.Sub)
			it.Pre, it.In = false, false
			deliver, reply = false, "subscribed"
		default:
			it.In = true
		}
	case "subscribed":
		switch {
		case it.Ask == "subscribe":
			it.Ask = ""
			it.Sub = withTo(it.Sub)
		case it.Sub == store.SubTo || it.Sub == store.SubBoth:
			// Already applied: this is the stored copy of one seen live.
		default:
			deliver = false // nobody asked
		}
	case "unsubscribe":
		it.Sub = withoutFrom(it.Sub)
		it.In = false
	case "unsubscribed":
		it.Sub = withoutTo(it.Sub)
		it.Ask = ""
	default:
		return false, nil
	}
	if err := r.update(ctx, u, contact, existed, &before, it); err != nil {
		return false, err
	}
	if reply != "" {
		if err := r.sendGenerated(ctx, u, st.From.Bare(), reply); err != nil {
			return false, err
		}
		if err := r.presence.SendCurrent(ctx, u, contact); err != nil {
			return false, err
		}
	}
	if st.Type == "unsubscribe" && (before.Sub == store.SubFrom || before.Sub == store.SubBoth) {
		if err := r.presence.SendUnavailable(ctx, u, contact); err != nil {
			return false, err
		}
	}
	if !deliver {
		return false, r.ack(ctx, u, rid)
	}
	return true, nil
}

func (r *Roster) ack(ctx context.Context, u, rid string) error {
	if rid == "" {
		return nil
	}
	return r.inbox.Ack(ctx, u, []string{rid})
}
