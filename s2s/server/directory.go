package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Redis keys of the network directory (docs/data.md, "Hosts"). They are
// read here directly; once pkg/store exists this file should use it.
const (
	hostsKey    = "hosts"
	leasePrefix = "lease:{"
	leaseSuffix = "}"
)

func leaseKey(host string) string { return leasePrefix + host + leaseSuffix }

// hostRecord is the value of a host in the hosts hash.
type hostRecord struct {
	FP      string `json:"fp"`
	Addr    string `json:"addr"`
	Enabled *bool  `json:"enabled"` // absent means enabled
}

// networkHost is a host of the network as the directory lists it.
type networkHost struct {
	Name string `json:"name"`
	FP   string `json:"fingerprint"`
	Addr string `json:"addr,omitempty"` // s2s address, host:port
	Up   bool   `json:"up"`             // its lease is current
}

// dirSnapshot is the directory as last read.
type dirSnapshot struct {
	hosts map[string]networkHost
	read  time.Time
}

// directory keeps a recent copy of the hosts of the network and whether
// each is alive, read from Redis every refresh interval: s2s consults it
// for every stanza, so it never waits on Redis on that path.
type directory struct {
	rdb     *redis.Client
	log     *zap.Logger
	every   time.Duration
	snap    atomic.Pointer[dirSnapshot]
	loaded  chan struct{} // closed after the first successful read
	lastErr atomic.Pointer[error]
}

func newDirectory(url string, every time.Duration, log *zap.Logger) (*directory, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("s2s: redis URL: %w", err)
	}
	opt.MaxRetries = 1
	opt.DialTimeout = time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.PoolSize = 2
	d := &directory{rdb: redis.NewClient(opt), log: log, every: every, loaded: make(chan struct{})}
	d.snap.Store(&dirSnapshot{hosts: map[string]networkHost{}})
	return d, nil
}

// run reads the directory until ctx ends, then closes the client.
func (d *directory) run(ctx context.Context) {
	defer d.rdb.Close()
	t := time.NewTicker(d.every)
	defer t.Stop()
	first := true
	for {
		if err := d.read(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.lastErr.Store(&err)
			d.log.Warn("reading the network directory failed; keeping the last copy", zap.Error(err))
		} else {
			d.lastErr.Store(nil)
			if first {
				close(d.loaded)
				first = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// read loads the hosts and their leases.
func (d *directory) read(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	raw, err := d.rdb.HGetAll(ctx, hostsKey).Result()
	if err != nil {
		return fmt.Errorf("HGETALL %s: %w", hostsKey, err)
	}
	hosts := make(map[string]networkHost, len(raw))
	names := make([]string, 0, len(raw))
	for name, value := range raw {
		var rec hostRecord
		if err := json.Unmarshal([]byte(value), &rec); err != nil {
			d.log.Warn("ignoring a malformed host record", zap.String("host", name), zap.Error(err))
			continue
		}
		canon, err := canonicalDomain(name)
		if err != nil || rec.FP == "" || rec.Enabled != nil && !*rec.Enabled {
			continue
		}
		hosts[canon] = networkHost{Name: canon, FP: normalizeFingerprint(rec.FP), Addr: rec.Addr}
		names = append(names, canon)
	}
	if len(names) > 0 {
		pipe := d.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(names))
		for i, n := range names {
			cmds[i] = pipe.Exists(ctx, leaseKey(n))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("leases: %w", err)
		}
		for i, n := range names {
			h := hosts[n]
			h.Up = cmds[i].Val() == 1
			hosts[n] = h
		}
	}
	d.snap.Store(&dirSnapshot{hosts: hosts, read: time.Now()})
	return nil
}

// host returns a host of the network by its canonical name.
func (d *directory) host(name string) (networkHost, bool) {
	if d == nil {
		return networkHost{}, false
	}
	h, ok := d.snap.Load().hosts[name]
	return h, ok
}

// hosts returns the current copy.
func (d *directory) snapshot() *dirSnapshot {
	if d == nil {
		return &dirSnapshot{}
	}
	return d.snap.Load()
}

// ready reports whether the directory has been read at least once.
func (d *directory) ready() error {
	if d == nil {
		return nil
	}
	select {
	case <-d.loaded:
		return nil
	default:
	}
	if p := d.lastErr.Load(); p != nil {
		return fmt.Errorf("network directory not read yet: %w", *p)
	}
	return errors.New("network directory not read yet")
}
