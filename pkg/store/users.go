package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// User is a user's account record (user:{u}).
type User struct {
	// Fingerprint of the user's key, 40 upper-case hex.
	Fingerprint string
	// Key is the server-certified public key ring, binary.
	Key []byte
	// Home is the host that receives the user's stanzas while no session
	// is online.
	Home string
	// Created is when the account was created.
	Created time.Time
	// Seen is the last logout (zero if never).
	Seen time.Time
	// Status is the status text of the last presence before logout.
	Status string
}

// Users is the user accounts aggregate.
type Users interface {
	// Get returns the user, or ErrNotFound.
	Get(ctx context.Context, u string) (*User, error)
	// Create stores a new user and reports false, changing nothing, when
	// the user exists.
	Create(ctx context.Context, u string, user User) (bool, error)
	// SetKey stores a new key and its fingerprint (login with a newer
	// key, key rollover).
	SetKey(ctx context.Context, u, fingerprint string, key []byte) error
	// SetStatus records the last status text.
	SetStatus(ctx context.Context, u, status string) error
	// Exist reports, for each user, whether the account exists.
	Exist(ctx context.Context, us []string) ([]bool, error)
	// Delete removes the account and everything kept for the user
	// (every key with the user's hash tag) and reports whether the
	// account existed. Entries of the session indexes are left to the
	// sweep, which drops those whose session is gone.
	Delete(ctx context.Context, u string) (bool, error)
	// Inactive returns up to max users without a session whose last
	// activity (last logout, or creation for a user who never logged
	// out) is before the given time. It scans the whole directory.
	Inactive(ctx context.Context, before time.Time, max int) ([]string, error)
}

type redisUsers struct{ c redis.UniversalClient }

// User hash fields.
const (
	fieldFP       = "fp"
	fieldKey      = "key"
	fieldHome     = "home"
	fieldCreated  = "created"
	fieldSeen     = "seen"
	fieldStatus   = "status"
	fieldInboxSeq = "ibseq"
)

func (r *redisUsers) Get(ctx context.Context, u string) (*User, error) {
	m, err := r.c.HGetAll(ctx, userKey(u)).Result()
	if err != nil {
		return nil, wrap("users get", err)
	}
	return decodeUser(m)
}

func decodeUser(m map[string]string) (*User, error) {
	if len(m) == 0 {
		return nil, wrap("users get", ErrNotFound)
	}
	var key []byte
	if k, ok := m[fieldKey]; ok {
		key = []byte(k)
	}
	return &User{
		Fingerprint: m[fieldFP],
		Key:         key,
		Home:        m[fieldHome],
		Created:     msTime(m[fieldCreated]),
		Seen:        msTime(m[fieldSeen]),
		Status:      m[fieldStatus],
	}, nil
}

// msTime reads unix milliseconds; anything else is the zero time.
func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func msString(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// createUser sets the fields only when the key does not exist.
var createUser = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`)

func (r *redisUsers) Create(ctx context.Context, u string, user User) (bool, error) {
	if user.Created.IsZero() {
		user.Created = time.Now()
	}
	args := []any{fieldFP, user.Fingerprint, fieldKey, user.Key, fieldHome, user.Home, fieldCreated, msString(user.Created)}
	if !user.Seen.IsZero() {
		args = append(args, fieldSeen, msString(user.Seen))
	}
	if user.Status != "" {
		args = append(args, fieldStatus, user.Status)
	}
	n, err := createUser.Run(ctx, r.c, []string{userKey(u)}, args...).Int()
	if err != nil {
		return false, wrap("users create", err)
	}
	return n == 1, nil
}

func (r *redisUsers) SetKey(ctx context.Context, u, fingerprint string, key []byte) error {
	return wrap("users set key", r.c.HSet(ctx, userKey(u), fieldFP, fingerprint, fieldKey, key).Err())
}

func (r *redisUsers) SetStatus(ctx context.Context, u, status string) error {
	return wrap("users set status", r.c.HSet(ctx, userKey(u), fieldStatus, status).Err())
}

func (r *redisUsers) Exist(ctx context.Context, us []string) ([]bool, error) {
	if len(us) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.IntCmd, len(us))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range us {
			cmds[i] = p.Exists(ctx, userKey(u))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("users exist", err)
	}
	out := make([]bool, len(us))
	for i, c := range cmds {
		out[i] = c.Val() == 1
	}
	return out, nil
}

// deleteUser removes the keys of one user. KEYS: user:{u} first, then
// the user's other keys. Returns whether the account existed.
var deleteUser = redis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', unpack(KEYS))
return existed`)

// userKeys lists every key of the user u, user:{u} first.
func userKeys(u string) []string {
	return []string{
		userKey(u), sessKey(u), presKey(u), seqKey(u), rosterKey(u), rosterVerKey(u), blockKey(u),
		inboxKey(u), inboxMsgKey(u), pushKey(u), idleKey(u), regKey(u),
	}
}

func (r *redisUsers) Delete(ctx context.Context, u string) (bool, error) {
	n, err := deleteUser.Run(ctx, r.c, userKeys(u)).Int()
	if err != nil {
		return false, wrap("users delete", err)
	}
	return n == 1, nil
}

// scanPage is the COUNT hint of each SCAN call.
const scanPage = 500

func (r *redisUsers) Inactive(ctx context.Context, before time.Time, max int) ([]string, error) {
	var out []string
	limit := before.UnixMilli()
	check := func(keys []string) error {
		us := make([]string, 0, len(keys))
		for _, k := range keys {
			if u, ok := userFromKey(k); ok {
				us = append(us, u)
			}
		}
		if len(us) == 0 {
			return nil
		}
		info := make([]*redis.SliceCmd, len(us))
		sessions := make([]*redis.IntCmd, len(us))
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, u := range us {
				info[i] = p.HMGet(ctx, userKey(u), fieldSeen, fieldCreated)
				sessions[i] = p.HLen(ctx, sessKey(u))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, u := range us {
			vals := info[i].Val()
			if len(vals) != 2 || sessions[i].Val() > 0 {
				continue
			}
			last := int64(0)
			for _, v := range vals {
				if s, ok := v.(string); ok {
					if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > last {
						last = ms
					}
				}
			}
			if last > 0 && last < limit && len(out) < max {
				out = append(out, u)
			}
		}
		return nil
	}
	err := scanKeys(ctx, r.c, "user:{*}", func(keys []string) (bool, error) {
		return len(out) < max, check(keys)
	})
	return out, wrap("users inactive", err)
}

// userFromKey reads u from "user:{u}".
func userFromKey(k string) (string, bool) {
	const prefix = "user:{"
	if len(k) <= len(prefix)+1 || k[:len(prefix)] != prefix || k[len(k)-1] != '}' {
		return "", false
	}
	return k[len(prefix) : len(k)-1], true
}

// scanKeys runs SCAN MATCH pattern over the whole keyspace (each master
// of a cluster) and hands each page to fn until fn reports false.
func scanKeys(ctx context.Context, c redis.UniversalClient, pattern string, fn func([]string) (bool, error)) error {
	scan := func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, scanPage).Result()
			if err != nil {
				return err
			}
			more, err := fn(keys)
			if err != nil || !more || next == 0 {
				return err
			}
			cursor = next
		}
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	}
	return scan(ctx, c)
}

type measuredUsers struct {
	next Users
	m    *metrics
}

func (w *measuredUsers) Get(ctx context.Context, u string) (_ *User, err error) {
	defer w.m.done("users_get", time.Now(), &err)
	return w.next.Get(ctx, u)
}

func (w *measuredUsers) Create(ctx context.Context, u string, user User) (_ bool, err error) {
	defer w.m.done("users_create", time.Now(), &err)
	return w.next.Create(ctx, u, user)
}

func (w *measuredUsers) SetKey(ctx context.Context, u, fingerprint string, key []byte) (err error) {
	defer w.m.done("users_set_key", time.Now(), &err)
	return w.next.SetKey(ctx, u, fingerprint, key)
}

func (w *measuredUsers) SetStatus(ctx context.Context, u, status string) (err error) {
	defer w.m.done("users_set_status", time.Now(), &err)
	return w.next.SetStatus(ctx, u, status)
}

func (w *measuredUsers) Exist(ctx context.Context, us []string) (_ []bool, err error) {
	defer w.m.done("users_exist", time.Now(), &err)
	return w.next.Exist(ctx, us)
}

func (w *measuredUsers) Delete(ctx context.Context, u string) (_ bool, err error) {
	defer w.m.done("users_delete", time.Now(), &err)
	return w.next.Delete(ctx, u)
}

func (w *measuredUsers) Inactive(ctx context.Context, before time.Time, max int) (_ []string, err error) {
	defer w.m.done("users_inactive", time.Now(), &err)
	return w.next.Inactive(ctx, before, max)
}
