package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Host is a host's entry in the network membership (the hosts hash).
type Host struct {
	// Fingerprint of the host's server key.
	Fingerprint string `json:"fp,omitempty"`
	// Addr is the host's s2s address.
	Addr string `json:"addr,omitempty"`
	// Enabled hosts take part in the network.
	Enabled bool `json:"enabled"`
}

// Hosts is the network membership and liveness aggregate: the hosts hash,
// each host's lease:{H} and the locks that elect one instance for a
// periodic job.
type Hosts interface {
	// Register adds the host unless it is listed already (an operator's
	// entry is never overwritten) and reports whether it did.
	Register(ctx context.Context, host string, h Host) (bool, error)
	// SetFingerprint records the fingerprint of the host's current
	// server key in its entry (it changes when the key is rotated),
	// keeping the rest of the entry; a host not listed is added, enabled.
	SetFingerprint(ctx context.Context, host, fingerprint string) error
	// All returns every listed host.
	All(ctx context.Context) (map[string]Host, error)
	// Renew sets the host's lease for ttl; instance names the renewer.
	Renew(ctx context.Context, host, instance string, ttl time.Duration) error
	// Live reports, for each host, whether its lease is current.
	Live(ctx context.Context, hosts []string) ([]bool, error)
	// Lock takes the lock name for ttl unless another owner holds it,
	// and reports whether owner holds it now.
	Lock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
}

type redisHosts struct{ c redis.UniversalClient }

func (r *redisHosts) Register(ctx context.Context, host string, h Host) (bool, error) {
	rec, err := json.Marshal(h)
	if err != nil {
		return false, fmt.Errorf("store: hosts register: %w", err)
	}
	ok, err := r.c.HSetNX(ctx, hostsKey, host, rec).Result()
	return ok, wrap("hosts register", err)
}

func (r *redisHosts) SetFingerprint(ctx context.Context, host, fingerprint string) error {
	err := r.c.Watch(ctx, func(tx *redis.Tx) error {
		h := Host{Enabled: true}
		raw, err := tx.HGet(ctx, hostsKey, host).Bytes()
		switch {
		case err == nil:
			if err := json.Unmarshal(raw, &h); err != nil {
				return fmt.Errorf("bad entry for %s: %w", host, err)
			}
		case !isNil(err):
			return err
		}
		if h.Fingerprint == fingerprint && err == nil {
			return nil
		}
		h.Fingerprint = fingerprint
		rec, err := json.Marshal(h)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, hostsKey, host, rec)
			return nil
		})
		return err
	}, hostsKey)
	return wrap("hosts set fingerprint", err)
}

func (r *redisHosts) All(ctx context.Context) (map[string]Host, error) {
	m, err := r.c.HGetAll(ctx, hostsKey).Result()
	if err != nil {
		return nil, wrap("hosts all", err)
	}
	out := make(map[string]Host, len(m))
	for name, raw := range m {
		var h Host
		if json.Unmarshal([]byte(raw), &h) == nil {
			out[name] = h
		}
	}
	return out, nil
}

func (r *redisHosts) Renew(ctx context.Context, host, instance string, ttl time.Duration) error {
	return wrap("hosts renew", r.c.Set(ctx, leaseKey(host), instance, ttl).Err())
}

func (r *redisHosts) Live(ctx context.Context, hosts []string) ([]bool, error) {
	if len(hosts) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.IntCmd, len(hosts))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hosts {
			cmds[i] = p.Exists(ctx, leaseKey(h))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("hosts live", err)
	}
	out := make([]bool, len(hosts))
	for i, c := range cmds {
		out[i] = c.Val() == 1
	}
	return out, nil
}

// takeLock sets the lock when free or already ours, renewing it.
// KEYS: lock. ARGV: owner, ttl (ms).
var takeLock = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

func (r *redisHosts) Lock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	n, err := takeLock.Run(ctx, r.c, []string{lockKey(name)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, wrap("hosts lock", err)
	}
	return n == 1, nil
}

type measuredHosts struct {
	next Hosts
	m    *metrics
}

func (w *measuredHosts) Register(ctx context.Context, host string, h Host) (_ bool, err error) {
	defer w.m.done("hosts_register", time.Now(), &err)
	return w.next.Register(ctx, host, h)
}

func (w *measuredHosts) SetFingerprint(ctx context.Context, host, fingerprint string) (err error) {
	defer w.m.done("hosts_set_fingerprint", time.Now(), &err)
	return w.next.SetFingerprint(ctx, host, fingerprint)
}

func (w *measuredHosts) All(ctx context.Context) (_ map[string]Host, err error) {
	defer w.m.done("hosts_all", time.Now(), &err)
	return w.next.All(ctx)
}

func (w *measuredHosts) Renew(ctx context.Context, host, instance string, ttl time.Duration) (err error) {
	defer w.m.done("hosts_renew", time.Now(), &err)
	return w.next.Renew(ctx, host, instance, ttl)
}

func (w *measuredHosts) Live(ctx context.Context, hosts []string) (_ []bool, err error) {
	defer w.m.done("hosts_live", time.Now(), &err)
	return w.next.Live(ctx, hosts)
}

func (w *measuredHosts) Lock(ctx context.Context, name, owner string, ttl time.Duration) (_ bool, err error) {
	defer w.m.done("hosts_lock", time.Now(), &err)
	return w.next.Lock(ctx, name, owner, ttl)
}
