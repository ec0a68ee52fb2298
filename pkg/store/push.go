package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Push holds what the push trigger needs (client-protocol §5.3): each
// user's registration tokens by provider (push:{u}), and which of the
// user's sessions are idle (idle:{u}: the client told c2s it is
// inactive, XEP-0352), since when.
type Push interface {
	// Register stores the user's token for the provider.
	Register(ctx context.Context, u, provider, token string) error
	// Unregister removes the user's token for the provider.
	Unregister(ctx context.Context, u, provider string) error
	// Tokens returns the user's tokens by provider.
	Tokens(ctx context.Context, u string) (map[string]string, error)
	// SetIdle records that the session sid became idle at since; a zero
	// since records that it is active again.
	SetIdle(ctx context.Context, u, sid string, since time.Time) error
}

func pushKey(u string) string { return "push:{" + u + "}" }
func idleKey(u string) string { return "idle:{" + u + "}" }

// idleRetention bounds how long the idle marks of a user whose sessions
// ended stay: ends do not clear them (a mark is only read for sessions
// that exist), the key's expiry does.
const idleRetention = 7 * 24 * time.Hour

type redisPush struct{ c redis.UniversalClient }

func (r *redisPush) Register(ctx context.Context, u, provider, token string) error {
	return wrap("push register", r.c.HSet(ctx, pushKey(u), provider, token).Err())
}

func (r *redisPush) Unregister(ctx context.Context, u, provider string) error {
	return wrap("push unregister", r.c.HDel(ctx, pushKey(u), provider).Err())
}

func (r *redisPush) Tokens(ctx context.Context, u string) (map[string]string, error) {
	m, err := r.c.HGetAll(ctx, pushKey(u)).Result()
	return m, wrap("push tokens", err)
}

func (r *redisPush) SetIdle(ctx context.Context, u, sid string, since time.Time) error {
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if since.IsZero() {
			p.HDel(ctx, idleKey(u), sid)
			return nil
		}
		p.HSet(ctx, idleKey(u), sid, msString(since))
		p.Expire(ctx, idleKey(u), idleRetention)
		return nil
	})
	return wrap("push set idle", err)
}

// PushTarget queues what deciding on a push needs: the user's tokens and
// the idle marks of the sessions.
func (b *Batch) PushTarget(u string) *Future[*PushTarget] {
	b.n += 2
	tokens := b.pipe.HGetAll(context.Background(), pushKey(u))
	idle := b.pipe.HGetAll(context.Background(), idleKey(u))
	return &Future[*PushTarget]{get: func() (*PushTarget, error) {
		if err := tokens.Err(); err != nil {
			return nil, wrap("batch push target", err)
		}
		if err := idle.Err(); err != nil {
			return nil, wrap("batch push target", err)
		}
		t := &PushTarget{Tokens: tokens.Val(), Idle: make(map[string]time.Time, len(idle.Val()))}
		for sid, ms := range idle.Val() {
			if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
				t.Idle[sid] = time.UnixMilli(n)
			}
		}
		return t, nil
	}}
}

// PushTarget is a user's push registrations and idle sessions.
type PushTarget struct {
	// Tokens by provider.
	Tokens map[string]string
	// Idle sessions by sid: since when.
	Idle map[string]time.Time
}

type measuredPush struct {
	next Push
	m    *metrics
}

func (w *measuredPush) Register(ctx context.Context, u, provider, token string) (err error) {
	defer w.m.done("push_register", time.Now(), &err)
	return w.next.Register(ctx, u, provider, token)
}

func (w *measuredPush) Unregister(ctx context.Context, u, provider string) (err error) {
	defer w.m.done("push_unregister", time.Now(), &err)
	return w.next.Unregister(ctx, u, provider)
}

func (w *measuredPush) Tokens(ctx context.Context, u string) (_ map[string]string, err error) {
	defer w.m.done("push_tokens", time.Now(), &err)
	return w.next.Tokens(ctx, u)
}

func (w *measuredPush) SetIdle(ctx context.Context, u, sid string, since time.Time) (err error) {
	defer w.m.done("push_set_idle", time.Now(), &err)
	return w.next.SetIdle(ctx, u, sid, since)
}
