package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Blocking is the blocking list aggregate (XEP-0191), block:{u}: the
// JIDs (bare, full or domain) the user blocked.
type Blocking interface {
	// List returns the blocked JIDs.
	List(ctx context.Context, u string) ([]string, error)
	// Add blocks the JIDs.
	Add(ctx context.Context, u string, jids []string) error
	// Remove unblocks the JIDs; none unblocks everyone.
	Remove(ctx context.Context, u string, jids []string) error
	// Blocked reports whether any of the candidates (the forms of one
	// address a blocking item can match) is blocked.
	Blocked(ctx context.Context, u string, candidates []string) (bool, error)
}

type redisBlocking struct{ c redis.UniversalClient }

func (r *redisBlocking) List(ctx context.Context, u string) ([]string, error) {
	l, err := r.c.SMembers(ctx, blockKey(u)).Result()
	return l, wrap("blocking list", err)
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (r *redisBlocking) Add(ctx context.Context, u string, jids []string) error {
	if len(jids) == 0 {
		return nil
	}
	return wrap("blocking add", r.c.SAdd(ctx, blockKey(u), toAny(jids)...).Err())
}

func (r *redisBlocking) Remove(ctx context.Context, u string, jids []string) error {
	if len(jids) == 0 {
		return wrap("blocking clear", r.c.Del(ctx, blockKey(u)).Err())
	}
	return wrap("blocking remove", r.c.SRem(ctx, blockKey(u), toAny(jids)...).Err())
}

func (r *redisBlocking) Blocked(ctx context.Context, u string, candidates []string) (bool, error) {
	if len(candidates) == 0 {
		return false, nil
	}
	hits, err := r.c.SMIsMember(ctx, blockKey(u), toAny(candidates)...).Result()
	if err != nil {
		return false, wrap("blocking check", err)
	}
	return anyTrue(hits), nil
}

func anyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

type measuredBlocking struct {
	next Blocking
	m    *metrics
}

func (w *measuredBlocking) List(ctx context.Context, u string) (_ []string, err error) {
	defer w.m.done("blocking_list", time.Now(), &err)
	return w.next.List(ctx, u)
}

func (w *measuredBlocking) Add(ctx context.Context, u string, jids []string) (err error) {
	defer w.m.done("blocking_add", time.Now(), &err)
	return w.next.Add(ctx, u, jids)
}

func (w *measuredBlocking) Remove(ctx context.Context, u string, jids []string) (err error) {
	defer w.m.done("blocking_remove", time.Now(), &err)
	return w.next.Remove(ctx, u, jids)
}

func (w *measuredBlocking) Blocked(ctx context.Context, u string, candidates []string) (_ bool, err error) {
	defer w.m.done("blocking_check", time.Now(), &err)
	return w.next.Blocked(ctx, u, candidates)
}
