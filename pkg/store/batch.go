package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batch queues reads of several aggregates and runs them in one round
// trip (a pipeline). Each read returns a Future, valid after Exec. A
// Batch is used once, by one goroutine.
type Batch struct {
	pipe redis.Pipeliner
	m    *metrics
	n    int
}

// Batch starts a batch of reads.
func (s *Store) Batch() *Batch { return &Batch{pipe: s.client.Pipeline(), m: s.metrics} }

// Future is the result of one read of a Batch.
type Future[T any] struct {
	get func() (T, error)
}

// Get returns the result; call it after Exec.
func (f *Future[T]) Get() (T, error) { return f.get() }

// Exec runs the queued reads. A missing record is not an error here: its
// Future reports ErrNotFound.
func (b *Batch) Exec(ctx context.Context) (err error) {
	if b.n == 0 {
		return nil
	}
	defer b.m.done("batch", time.Now(), &err)
	if _, err := b.pipe.Exec(ctx); err != nil && !isNil(err) {
		return wrap("batch", err)
	}
	return nil
}

// User queues a read of user:{u}.
func (b *Batch) User(u string) *Future[*User] {
	b.n++
	cmd := b.pipe.HGetAll(context.Background(), userKey(u))
	return &Future[*User]{get: func() (*User, error) {
		if err := cmd.Err(); err != nil {
			return nil, wrap("batch user", err)
		}
		return decodeUser(cmd.Val())
	}}
}

// Home queues a read of the user's home host; ErrNotFound means the user
// does not exist.
func (b *Batch) Home(u string) *Future[string] {
	b.n++
	cmd := b.pipe.HGet(context.Background(), userKey(u), fieldHome)
	return &Future[string]{get: func() (string, error) {
		v, err := cmd.Result()
		return v, wrap("batch home", err)
	}}
}

// Session queues a read of one session.
func (b *Batch) Session(u, res string) *Future[*Session] {
	b.n++
	cmd := b.pipe.HGet(context.Background(), sessKey(u), res)
	return &Future[*Session]{get: func() (*Session, error) {
		raw, err := cmd.Result()
		if err != nil {
			return nil, wrap("batch session", err)
		}
		return decodeSession("batch session", raw)
	}}
}

// Sessions queues a read of all the user's sessions.
func (b *Batch) Sessions(u string) *Future[map[string]Session] {
	b.n++
	cmd := b.pipe.HGetAll(context.Background(), sessKey(u))
	return &Future[map[string]Session]{get: func() (map[string]Session, error) {
		if err := cmd.Err(); err != nil {
			return nil, wrap("batch sessions", err)
		}
		return decodeSessions(cmd.Val()), nil
	}}
}

// Seq queues a read of the session's handled count (0 when none).
func (b *Batch) Seq(u, sid string) *Future[uint64] {
	b.n++
	cmd := b.pipe.HGet(context.Background(), seqKey(u), sid)
	return &Future[uint64]{get: func() (uint64, error) {
		v, err := cmd.Result()
		if isNil(err) {
			return 0, nil
		}
		if err != nil {
			return 0, wrap("batch seq", err)
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, wrap("batch seq", err)
		}
		return n, nil
	}}
}

// Presences queues a read of the user's stored presences.
func (b *Batch) Presences(u string) *Future[map[string][]byte] {
	b.n++
	cmd := b.pipe.HGetAll(context.Background(), presKey(u))
	return &Future[map[string][]byte]{get: func() (map[string][]byte, error) {
		if err := cmd.Err(); err != nil {
			return nil, wrap("batch presences", err)
		}
		out := make(map[string][]byte, len(cmd.Val()))
		for res, p := range cmd.Val() {
			out[res] = []byte(p)
		}
		return out, nil
	}}
}

// Blocked queues a check of the user's blocking list against the forms
// of one address.
func (b *Batch) Blocked(u string, candidates []string) *Future[bool] {
	if len(candidates) == 0 {
		return &Future[bool]{get: func() (bool, error) { return false, nil }}
	}
	b.n++
	cmd := b.pipe.SMIsMember(context.Background(), blockKey(u), toAny(candidates)...)
	return &Future[bool]{get: func() (bool, error) {
		hits, err := cmd.Result()
		if err != nil {
			return false, wrap("batch blocked", err)
		}
		return anyTrue(hits), nil
	}}
}

// BlockList queues a read of the user's whole blocking list.
func (b *Batch) BlockList(u string) *Future[[]string] {
	b.n++
	cmd := b.pipe.SMembers(context.Background(), blockKey(u))
	return &Future[[]string]{get: func() ([]string, error) {
		v, err := cmd.Result()
		return v, wrap("batch block list", err)
	}}
}

// RosterItem queues a read of one roster item.
func (b *Batch) RosterItem(u, contact string) *Future[*Item] {
	b.n++
	cmd := b.pipe.HGet(context.Background(), rosterKey(u), contact)
	return &Future[*Item]{get: func() (*Item, error) {
		raw, err := cmd.Result()
		if err != nil {
			return nil, wrap("batch roster item", err)
		}
		return decodeItem("batch roster item", raw)
	}}
}

// Roster queues a read of the whole roster and its version.
func (b *Batch) Roster(u string) *Future[*Roster] {
	b.n += 2
	items := b.pipe.HGetAll(context.Background(), rosterKey(u))
	ver := b.pipe.Get(context.Background(), rosterVerKey(u))
	return &Future[*Roster]{get: func() (*Roster, error) {
		if err := items.Err(); err != nil {
			return nil, wrap("batch roster", err)
		}
		if err := ver.Err(); err != nil && !isNil(err) {
			return nil, wrap("batch roster", err)
		}
		return decodeRoster(items.Val(), ver.Val()), nil
	}}
}

// UserInfo queues a read of the user's record without its key (which is
// large): everything User returns but Key. ErrNotFound means the user
// does not exist.
func (b *Batch) UserInfo(u string) *Future[*User] {
	b.n++
	cmd := b.pipe.HMGet(context.Background(), userKey(u), fieldFP, fieldHome, fieldCreated, fieldSeen, fieldStatus)
	return &Future[*User]{get: func() (*User, error) {
		vals, err := cmd.Result()
		if err != nil {
			return nil, wrap("batch user info", err)
		}
		m := make(map[string]string, len(vals))
		for i, name := range []string{fieldFP, fieldHome, fieldCreated, fieldSeen, fieldStatus} {
			if s, ok := vals[i].(string); ok {
				m[name] = s
			}
		}
		return decodeUser(m)
	}}
}

// InboxOldest queues a read of the score of the user's oldest inbox
// entry (arrival in microseconds; 0 when the inbox is empty).
func (b *Batch) InboxOldest(u string) *Future[int64] {
	b.n++
	cmd := b.pipe.ZRangeWithScores(context.Background(), inboxKey(u), 0, 0)
	return &Future[int64]{get: func() (int64, error) {
		z, err := cmd.Result()
		if err != nil {
			return 0, wrap("batch inbox oldest", err)
		}
		if len(z) == 0 {
			return 0, nil
		}
		return int64(z[0].Score), nil
	}}
}
