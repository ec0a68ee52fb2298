package inbox

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/sm/core"
)

// Namespaces that make a message worth storing.
const (
	NSReceipts = "urn:xmpp:receipts"
	NSSigned   = "jabber:x:signed"
)

const (
	// pageSize bounds the entries read per round trip.
	pageSize = 100
	// delayText is the delay element's text, as Kontalk's server wrote it.
	delayText = "Offline Storage"
)

// StorableContent reports whether the kind and content of st make it a
// stanza the inbox keeps, whatever its address.
func StorableContent(st *core.Stanza) bool {
	switch st.Name {
	case "message":
		switch st.Type {
		case "", "normal", "chat":
		default:
			return false
		}
		if st.Child("body") != nil {
			return true
		}
		for c := range st.El.Elements() {
			switch {
			case c.Space == NSReceipts && (c.Local() == "request" || c.Local() == "received"):
				return true
			case c.Space == NSSigned && c.Local() == "x":
				return true
			}
		}
	case "presence":
		switch st.Type {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
			return true
		}
	}
	return false
}

// Storable reports whether st, addressed as it is, goes in its
// recipient's inbox: storable content for a user. A message to a full
// JID is stored too (the legacy server did not): the sender's ack means
// "stored" whatever the address (ARCHITECTURE.md §7), and if that
// session is gone the entry reaches the user's next one.
func Storable(st *core.Stanza) bool {
	return st.HasTo && st.To.Localpart() != "" && StorableContent(st)
}

// RID returns the inbox id of st.
func RID(st *core.Stanza) string { return store.RID(st.BareFrom(), st.ID) }

// Inbox stores and delivers stored stanzas.
type Inbox struct {
	env *core.Env
	// OnDelivered, when set, learns how long each delivered entry
	// waited in the inbox.
	OnDelivered func(waited time.Duration)
}

// New returns the inbox feature.
func New(env *core.Env) *Inbox { return &Inbox{env: env} }

// Put stores raw, the bytes of st to deliver, in the inbox of the user
// u, and returns the result and the entry's rid. The recipient's
// blocking list is checked against st's sender in the same step.
func (i *Inbox) Put(ctx context.Context, u string, st *core.Stanza, raw []byte) (store.PutResult, string, error) {
	rid := RID(st)
	res, err := i.env.Store.Inbox.Put(ctx, u, rid, raw, core.Candidates(st.From))
	if err != nil {
		return 0, rid, fmt.Errorf("inbox: store for %s: %w", u, err)
	}
	return res, rid, nil
}

// Send hands st (whose bytes are raw) on: a storable stanza for a user
// of the network is stored in the recipient's inbox first, and routed
// only when it is there (Stored, or Duplicate when it was already);
// anything else is routed as it is, with the result Stored. The other
// results say why nothing was sent.
func (i *Inbox) Send(ctx context.Context, st *core.Stanza, raw []byte) (store.PutResult, error) {
	res := store.Stored
	if Storable(st) && st.To.Domainpart() == i.env.Network {
		var err error
		if res, _, err = i.Put(ctx, st.To.Localpart(), st, raw); err != nil {
			return 0, err
		}
		if res != store.Stored && res != store.Duplicate {
			return res, nil
		}
	}
	if err := i.env.Out.Route(ctx, raw); err != nil {
		return 0, err
	}
	return res, nil
}

// Filter decides, when a stored entry is about to be delivered, whether
// it still goes to the client; false removes it from the inbox.
type Filter func(ctx context.Context, s *core.Session, st *core.Stanza, rid string) (bool, error)

// Deliver sends the session every stored entry that arrived before the
// given time (zero: all), oldest first, addressed to the session's full
// JID, with a delay stamp and its rid. Entries from senders the user has
// blocked since, entries that cannot be read and entries filter refuses
// are removed. It returns the number delivered.
func (i *Inbox) Deliver(ctx context.Context, s *core.Session, before time.Time, filter Filter) (int, error) {
	list, err := i.env.Store.Blocking.List(ctx, s.User)
	if err != nil {
		return 0, fmt.Errorf("inbox: deliver to %s: %w", s.User, err)
	}
	blocked := make(map[string]bool, len(list))
	for _, b := range list {
		blocked[b] = true
	}
	to := i.env.FullJID(s)
	var after int64
	delivered := 0
	for {
		entries, err := i.env.Store.Inbox.Page(ctx, s.User, after, before, pageSize)
		if err != nil {
			return delivered, fmt.Errorf("inbox: deliver to %s: %w", s.User, err)
		}
		var drop []string
		for _, e := range entries {
			after = e.Score
			ok, err := i.deliverEntry(ctx, s, to, e, blocked, filter)
			if err != nil {
				return delivered, err
			}
			if ok {
				delivered++
			} else {
				drop = append(drop, e.RID)
			}
		}
		if err := i.env.Store.Inbox.Ack(ctx, s.User, drop); err != nil {
			return delivered, fmt.Errorf("inbox: deliver to %s: %w", s.User, err)
		}
		if len(entries) < pageSize {
			return delivered, nil
		}
	}
}

// deliverEntry sends one entry, or reports false when it is to be
// dropped.
func (i *Inbox) deliverEntry(ctx context.Context, s *core.Session, to string, e store.Entry, blocked map[string]bool, filter Filter) (bool, error) {
	top, err := core.ParseRaw(e.Stanza)
	if err != nil {
		i.env.Log.Warn("dropping unreadable inbox entry", i.logFields(s, e.RID, err)...)
		return false, nil
	}
	st, err := core.ParseStanza(top, stream.NSClient)
	if err != nil || !st.HasFrom {
		i.env.Log.Warn("dropping unreadable inbox entry", i.logFields(s, e.RID, err)...)
		return false, nil
	}
	for _, c := range core.Candidates(st.From) {
		if blocked[c] {
			return false, nil
		}
	}
	if filter != nil {
		ok, err := filter(ctx, s, st, e.RID)
		if err != nil || !ok {
			return false, err
		}
	}
	raw := core.Readdress(top, to)
	raw = core.InsertChild(raw, core.AppendDelay(nil, i.env.Network, e.Arrived, delayText))
	if err := i.env.Out.Deliver(ctx, s, e.RID, raw); err != nil {
		return false, err
	}
	if i.OnDelivered != nil {
		i.OnDelivered(time.Since(e.Arrived))
	}
	return true, nil
}

// Ack removes the entries the client acknowledged.
func (i *Inbox) Ack(ctx context.Context, u string, rids []string) error {
	if err := i.env.Store.Inbox.Ack(ctx, u, rids); err != nil {
		return fmt.Errorf("inbox: ack for %s: %w", u, err)
	}
	return nil
}

func (i *Inbox) logFields(s *core.Session, rid string, err error) []zap.Field {
	return []zap.Field{zap.String("user", s.User), zap.String("rid", rid), zap.Error(err)}
}
