package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pending is a phone verification in progress (reg:{u}): what the
// provider needs to check the code, and how many wrong codes were given.
type Pending struct {
	// Phone is the number being verified, E.164.
	Phone string
	// Provider names the verification provider that runs it.
	Provider string
	// Challenge is pin, missedcall or callerid.
	Challenge string
	// From is what the client was told the code comes from.
	From string
	// Code is the expected code when the server checks it itself.
	Code string
	// Ref is the provider's reference for the verification.
	Ref string
	// Attempts counts wrong codes.
	Attempts int
	// Created is when the verification started.
	Created time.Time
}

// PrivateKey is a private key a user stored for transfer to another
// device (privkey:{h}).
type PrivateKey struct {
	// User is the localpart of the owner.
	User string `json:"u"`
	// Key is the encrypted private key as the client sent it.
	Key []byte `json:"k"`
}

// Registrations holds the short-lived state of registration: pending
// verifications, throttling counters and private keys awaiting transfer.
// Every record expires by itself.
type Registrations interface {
	// Begin stores the pending verification of the user u, replacing
	// any earlier one, for ttl.
	Begin(ctx context.Context, u string, p Pending, ttl time.Duration) error
	// Pending returns the user's pending verification, or ErrNotFound.
	Pending(ctx context.Context, u string) (*Pending, error)
	// Fail counts a wrong code and returns the count; at max the pending
	// verification is removed. ErrNotFound when there is none.
	Fail(ctx context.Context, u string, max int) (int, error)
	// Finish removes the pending verification and reports whether it
	// was still there, so that one verification completes only once.
	Finish(ctx context.Context, u string) (bool, error)
	// Throttle counts one request under key (throttle:{key}) and returns
	// the count within the current window, which starts with the first
	// request and lasts window.
	Throttle(ctx context.Context, key string, window time.Duration) (int64, error)
	// PutPrivateKey stores a private key under the hash of its token for
	// ttl.
	PutPrivateKey(ctx context.Context, tokenHash string, k PrivateKey, ttl time.Duration) error
	// TakePrivateKey returns the key stored under the token hash and
	// removes it (a token works once), or ErrNotFound.
	TakePrivateKey(ctx context.Context, tokenHash string) (*PrivateKey, error)
}

func regKey(u string) string        { return "reg:{" + u + "}" }
func throttleKey(k string) string   { return "throttle:{" + k + "}" }
func privateKeyKey(h string) string { return "privkey:{" + h + "}" }

func pendingFields(p Pending) []any {
	return []any{
		"phone", p.Phone, "provider", p.Provider, "challenge", p.Challenge, "from", p.From,
		"code", p.Code, "ref", p.Ref, "attempts", p.Attempts, "created", msString(p.Created),
	}
}

type redisRegistrations struct{ c redis.UniversalClient }

func (r *redisRegistrations) Begin(ctx context.Context, u string, p Pending, ttl time.Duration) error {
	if p.Created.IsZero() {
		p.Created = time.Now()
	}
	_, err := r.c.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Del(ctx, regKey(u))
		tx.HSet(ctx, regKey(u), pendingFields(p)...)
		tx.PExpire(ctx, regKey(u), ttl)
		return nil
	})
	return wrap("registrations begin", err)
}

func (r *redisRegistrations) Pending(ctx context.Context, u string) (*Pending, error) {
	m, err := r.c.HGetAll(ctx, regKey(u)).Result()
	if err != nil {
		return nil, wrap("registrations pending", err)
	}
	if len(m) == 0 {
		return nil, wrap("registrations pending", ErrNotFound)
	}
	attempts, _ := strconv.Atoi(m["attempts"])
	return &Pending{
		Phone: m["phone"], Provider: m["provider"], Challenge: m["challenge"], From: m["from"],
		Code: m["code"], Ref: m["ref"], Attempts: attempts, Created: msTime(m["created"]),
	}, nil
}

// failCode counts a wrong code. KEYS: reg. ARGV: max. Returns the count,
// or -1 when nothing is pending.
var failCode = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if n >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return n`)

func (r *redisRegistrations) Fail(ctx context.Context, u string, max int) (int, error) {
	n, err := failCode.Run(ctx, r.c, []string{regKey(u)}, max).Int()
	if err != nil {
		return 0, wrap("registrations fail", err)
	}
	if n < 0 {
		return 0, wrap("registrations fail", ErrNotFound)
	}
	return n, nil
}

func (r *redisRegistrations) Finish(ctx context.Context, u string) (bool, error) {
	n, err := r.c.Del(ctx, regKey(u)).Result()
	return n == 1, wrap("registrations finish", err)
}

// countRequest increments a throttling counter, starting its window on
// the first request. KEYS: counter. ARGV: window (ms).
var countRequest = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

func (r *redisRegistrations) Throttle(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := countRequest.Run(ctx, r.c, []string{throttleKey(key)}, window.Milliseconds()).Int64()
	return n, wrap("registrations throttle", err)
}

func (r *redisRegistrations) PutPrivateKey(ctx context.Context, tokenHash string, k PrivateKey, ttl time.Duration) error {
	rec, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("store: put private key: %w", err)
	}
	return wrap("registrations put private key", r.c.Set(ctx, privateKeyKey(tokenHash), rec, ttl).Err())
}

func (r *redisRegistrations) TakePrivateKey(ctx context.Context, tokenHash string) (*PrivateKey, error) {
	raw, err := r.c.GetDel(ctx, privateKeyKey(tokenHash)).Bytes()
	if err != nil {
		return nil, wrap("registrations take private key", err)
	}
	var k PrivateKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("store: take private key: bad record: %w", err)
	}
	return &k, nil
}

type measuredRegistrations struct {
	next Registrations
	m    *metrics
}

func (w *measuredRegistrations) Begin(ctx context.Context, u string, p Pending, ttl time.Duration) (err error) {
	defer w.m.done("registrations_begin", time.Now(), &err)
	return w.next.Begin(ctx, u, p, ttl)
}

func (w *measuredRegistrations) Pending(ctx context.Context, u string) (_ *Pending, err error) {
	defer w.m.done("registrations_pending", time.Now(), &err)
	return w.next.Pending(ctx, u)
}

func (w *measuredRegistrations) Fail(ctx context.Context, u string, max int) (_ int, err error) {
	defer w.m.done("registrations_fail", time.Now(), &err)
	return w.next.Fail(ctx, u, max)
}

func (w *measuredRegistrations) Finish(ctx context.Context, u string) (_ bool, err error) {
	defer w.m.done("registrations_finish", time.Now(), &err)
	return w.next.Finish(ctx, u)
}

func (w *measuredRegistrations) Throttle(ctx context.Context, key string, window time.Duration) (_ int64, err error) {
	defer w.m.done("registrations_throttle", time.Now(), &err)
	return w.next.Throttle(ctx, key, window)
}

func (w *measuredRegistrations) PutPrivateKey(ctx context.Context, tokenHash string, k PrivateKey, ttl time.Duration) (err error) {
	defer w.m.done("registrations_put_private_key", time.Now(), &err)
	return w.next.PutPrivateKey(ctx, tokenHash, k, ttl)
}

func (w *measuredRegistrations) TakePrivateKey(ctx context.Context, tokenHash string) (_ *PrivateKey, err error) {
	defer w.m.done("registrations_take_private_key", time.Now(), &err)
	return w.next.TakePrivateKey(ctx, tokenHash)
}
