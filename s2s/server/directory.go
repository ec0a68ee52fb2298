package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/store"
)

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
	store   *store.Store
	log     *zap.Logger
	every   time.Duration
	snap    atomic.Pointer[dirSnapshot]
	loaded  chan struct{} // closed after the first successful read
	lastErr atomic.Pointer[error]
}

func newDirectory(url string, every time.Duration, log *zap.Logger, reg prometheus.Registerer) (*directory, error) {
	st, err := store.Open(store.Options{URL: url, Timeout: time.Second, PoolSize: 2, Metrics: reg, Namespace: "s2s"})
	if err != nil {
		return nil, fmt.Errorf("s2s: %w", err)
	}
	d := &directory{store: st, log: log, every: every, loaded: make(chan struct{})}
	d.snap.Store(&dirSnapshot{hosts: map[string]networkHost{}})
	return d, nil
}

// run reads the directory until ctx ends, then closes the client.
func (d *directory) run(ctx context.Context) {
	defer d.store.Close()
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

// read loads the enabled hosts and their leases.
func (d *directory) read(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	all, err := d.store.Hosts.All(ctx)
	if err != nil {
		return err
	}
	hosts := make(map[string]networkHost, len(all))
	names := make([]string, 0, len(all))
	for name, h := range all {
		canon, err := canonicalDomain(name)
		if err != nil || h.Fingerprint == "" || !h.Enabled {
			continue
		}
		hosts[canon] = networkHost{Name: canon, FP: normalizeFingerprint(h.Fingerprint), Addr: h.Addr}
		names = append(names, canon)
	}
	live, err := d.store.Hosts.Live(ctx, names)
	if err != nil {
		return err
	}
	for i, n := range names {
		h := hosts[n]
		h.Up = live[i]
		hosts[n] = h
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
