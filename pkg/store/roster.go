package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscription states (RFC 6121 §2.1.2.5).
const (
	SubNone = "none"
	SubTo   = "to"
	SubFrom = "from"
	SubBoth = "both"
)

// Item is a roster item (a field of roster:{u}, keyed by the contact's
// bare JID).
type Item struct {
	// Sub is the subscription state: none, to, from or both.
	Sub string `json:"sub"`
	// Ask is "subscribe" while the user's request to the contact is
	// pending (RFC 6121 §3.1.2).
	Ask string `json:"ask,omitempty"`
	// Pre records the user's pre-approval of the contact's future
	// request (RFC 6121 §3.4).
	Pre bool `json:"pre,omitempty"`
	// In records the contact's pending request to the user, which the
	// user has not answered yet (RFC 6121 §3.1.3).
	In bool `json:"in,omitempty"`
	// Name and Groups are set by the user's roster sets.
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// Visible reports whether the item belongs in the user's roster: an item
// holding only the contact's pending request does not (RFC 6121 §3.1.3).
func (it *Item) Visible() bool {
	return it.Sub != SubNone && it.Sub != "" || it.Ask != "" || it.Pre || it.Name != "" || len(it.Groups) > 0
}

// Roster is a user's roster with its version.
type Roster struct {
	Items   map[string]Item
	Version int64
}

// Rosters is the roster aggregate (RFC 6121).
type Rosters interface {
	// Get returns the whole roster and its version.
	Get(ctx context.Context, u string) (*Roster, error)
	// Item returns one item, or ErrNotFound.
	Item(ctx context.Context, u, contact string) (*Item, error)
	// Put writes an item and returns the new roster version.
	Put(ctx context.Context, u, contact string, it Item) (int64, error)
	// Remove deletes an item and returns the new roster version.
	Remove(ctx context.Context, u, contact string) (int64, error)
}

type redisRosters struct{ c redis.UniversalClient }

func decodeItem(op, raw string) (*Item, error) {
	var it Item
	if err := json.Unmarshal([]byte(raw), &it); err != nil {
		return nil, fmt.Errorf("store: %s: bad roster item: %w", op, err)
	}
	if it.Sub == "" {
		it.Sub = SubNone
	}
	return &it, nil
}

func decodeRoster(m map[string]string, ver string) *Roster {
	r := &Roster{Items: make(map[string]Item, len(m))}
	r.Version, _ = strconv.ParseInt(ver, 10, 64)
	for jid, raw := range m {
		if it, err := decodeItem("roster", raw); err == nil {
			r.Items[jid] = *it
		}
	}
	return r
}

func (r *redisRosters) Get(ctx context.Context, u string) (*Roster, error) {
	var items *redis.MapStringStringCmd
	var ver *redis.StringCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		items = p.HGetAll(ctx, rosterKey(u))
		ver = p.Get(ctx, rosterVerKey(u))
		return nil
	})
	if err != nil && !isNil(err) {
		return nil, wrap("roster get", err)
	}
	return decodeRoster(items.Val(), ver.Val()), nil
}

func (r *redisRosters) Item(ctx context.Context, u, contact string) (*Item, error) {
	raw, err := r.c.HGet(ctx, rosterKey(u), contact).Result()
	if err != nil {
		return nil, wrap("roster item", err)
	}
	return decodeItem("roster item", raw)
}

func (r *redisRosters) Put(ctx context.Context, u, contact string, it Item) (int64, error) {
	if it.Sub == "" {
		it.Sub = SubNone
	}
	rec, err := json.Marshal(it)
	if err != nil {
		return 0, fmt.Errorf("store: roster put: %w", err)
	}
	var ver *redis.IntCmd
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, rosterKey(u), contact, rec)
		ver = p.Incr(ctx, rosterVerKey(u))
		return nil
	})
	if err != nil {
		return 0, wrap("roster put", err)
	}
	return ver.Val(), nil
}

func (r *redisRosters) Remove(ctx context.Context, u, contact string) (int64, error) {
	var ver *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, rosterKey(u), contact)
		ver = p.Incr(ctx, rosterVerKey(u))
		return nil
	})
	if err != nil {
		return 0, wrap("roster remove", err)
	}
	return ver.Val(), nil
}

type measuredRosters struct {
	next Rosters
	m    *metrics
}

func (w *measuredRosters) Get(ctx context.Context, u string) (_ *Roster, err error) {
	defer w.m.done("roster_get", time.Now(), &err)
	return w.next.Get(ctx, u)
}

func (w *measuredRosters) Item(ctx context.Context, u, contact string) (_ *Item, err error) {
	defer w.m.done("roster_item", time.Now(), &err)
	return w.next.Item(ctx, u, contact)
}

func (w *measuredRosters) Put(ctx context.Context, u, contact string, it Item) (_ int64, err error) {
	defer w.m.done("roster_put", time.Now(), &err)
	return w.next.Put(ctx, u, contact, it)
}

func (w *measuredRosters) Remove(ctx context.Context, u, contact string) (_ int64, err error) {
	defer w.m.done("roster_remove", time.Now(), &err)
	return w.next.Remove(ctx, u, contact)
}
