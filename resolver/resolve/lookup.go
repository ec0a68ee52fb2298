package resolve

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Results of resolving one stanza, as metric labels.
const (
	resultSession = "session" // to the host of a session
	resultHome    = "home"    // to the user's home host
	resultLocal   = "local"   // the domain or a service JID: to this host's sm
	resultUnknown = "unknown" // no such user: item-not-found
	resultDropped = "dropped" // unreadable, not for N, or Redis away
)

// lookup is one stanza of a batch.
type lookup struct {
	top *xml.Top
	// to is the new address for the domain and services; empty for users.
	to string
	// user and resource of a user's address.
	user, resource string
	one            *store.Future[*store.Session]
	all            *store.Future[map[string]store.Session]
	home           *store.Future[string]
}

// resolve re-addresses a batch of stanzas and sends them on, in order,
// with one Redis round trip for all their users.
func (r *Resolver) resolve(ctx context.Context, raws [][]byte) {
	items := make([]lookup, 0, len(raws))
	users := 0
	for _, raw := range raws {
		top, err := xml.ParseTop(raw, xml.Scope{Default: stream.NSComponent})
		if err != nil {
			r.metrics.result(resultDropped)
			continue
		}
		it, ok := r.classify(top)
		if !ok {
			r.metrics.result(resultDropped)
			continue
		}
		if it.user != "" {
			users++
		}
		items = append(items, it)
	}
	if users > 0 {
		err := r.retry(ctx, func() error {
			b := r.store.Batch()
			for i := range items {
				it := &items[i]
				if it.user == "" {
					continue
				}
				if it.resource != "" {
					it.one = b.Session(it.user, it.resource)
				} else {
					it.all = b.Sessions(it.user)
				}
				it.home = b.Home(it.user)
			}
			return b.Exec(ctx)
		})
		r.metrics.roundTrips.Inc()
		if err != nil {
			r.log.Error("directory unavailable; stanzas for users dropped", zap.Int("stanzas", users), zap.Error(err))
			r.fail(ctx, items)
			return
		}
	}
	live := r.live.get(ctx, r.store, r.log)
	var out []byte
	for i := range items {
		it := &items[i]
		if it.user == "" {
			out = it.top.AppendWithAttr(out, "to", it.to)
			r.metrics.result(resultLocal)
			continue
		}
		host, result := r.pick(it, live)
		if host == "" {
			r.metrics.result(resultUnknown)
			if stanza.Bounceable(it.top) {
				out = stanza.AppendBounce(out, it.top, stanza.Errorf(stanza.ItemNotFound, "no such user"))
			}
			continue
		}
		r.metrics.result(result)
		to := it.user + "@" + host
		if it.resource != "" {
			to += "/" + it.resource
		}
		out = it.top.AppendWithAttr(out, "to", to)
	}
	if len(out) > 0 {
		if err := r.send(ctx, out); err != nil && ctx.Err() == nil {
			r.log.Error("cannot send to the router", zap.Error(err))
		}
	}
}

// classify reads the 'to' of a stanza for N: the domain or a service
// goes to this host, a user needs a lookup. ok is false for anything
// else.
func (r *Resolver) classify(top *xml.Top) (lookup, bool) {
	to := top.Value("to")
	local, domain, resource := jid.Split([]byte(to))
	if d, ok := jid.AppendDomain(nil, domain); !ok || string(d) != r.opts.Network {
		return lookup{}, false
	}
	it := lookup{top: top, resource: string(resource)}
	if local == nil {
		it.to = r.opts.Host
		if resource != nil {
			it.to += "/" + string(resource)
		}
		return it, true
	}
	u, ok := canonicalLocal(string(local))
	if !ok {
		return lookup{}, false
	}
	if isService(u) && resource == nil {
		it.to = u + "@" + r.opts.Host
		return it, true
	}
	it.user = u
	return it, true
}

// canonicalLocal prepares a localpart (RFC 7622): lower-casing is all
// it takes for the ASCII hex of Kontalk's users.
func canonicalLocal(l string) (string, bool) {
	ascii := true
	for i := 0; i < len(l); i++ {
		if l[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(l), l != ""
	}
	j, err := jid.New(l, "example.net", "")
	if err != nil {
		return "", false
	}
	return j.Localpart(), true
}

// pick chooses the host for a user's stanza: the session named by a full
// JID, or for a bare JID a session on this host, else the available
// session of highest priority, among live hosts; else the home host. It
// returns "" for a user that does not exist.
func (r *Resolver) pick(it *lookup, live map[string]bool) (string, string) {
	if it.one != nil {
		if s, err := it.one.Get(); err == nil && live[s.Host] {
			return s.Host, resultSession
		}
	}
	if it.all != nil {
		if all, err := it.all.Get(); err == nil {
			best, bestRank := "", -1<<31
			for _, s := range all {
				if !live[s.Host] {
					continue
				}
				if s.Host == r.opts.Host {
					return s.Host, resultSession
				}
				rank := s.Prio
				if !s.Avail {
					rank -= 1 << 10
				}
				if rank > bestRank || rank == bestRank && s.Host < best {
					best, bestRank = s.Host, rank
				}
			}
			if best != "" {
				return best, resultSession
			}
		}
	}
	home, err := it.home.Get()
	if err != nil {
		return "", resultUnknown
	}
	if home == "" {
		home = r.opts.Host
	}
	return home, resultHome
}

// fail handles a batch whose users could not be looked up: messages and
// presences are dropped (a stored message is in its recipient's inbox
// and is delivered from there), IQ requests are answered with an error so
// the asker does not wait, and the domain's stanzas still go through.
func (r *Resolver) fail(ctx context.Context, items []lookup) {
	var out []byte
	for i := range items {
		it := &items[i]
		switch {
		case it.user == "":
			out = it.top.AppendWithAttr(out, "to", it.to)
		case it.top.Is("iq") && stanza.Bounceable(it.top) && (it.top.Value("type") == "get" || it.top.Value("type") == "set"):
			out = stanza.AppendBounce(out, it.top, &stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError, Text: "directory unavailable"})
			r.metrics.result(resultDropped)
		default:
			r.metrics.result(resultDropped)
		}
	}
	if len(out) > 0 {
		if err := r.send(ctx, out); err != nil && ctx.Err() == nil {
			r.log.Error("cannot send to the router", zap.Error(err))
		}
	}
}

// retry runs fn until it succeeds, fails for a reason other than Redis
// being unreachable, or RetryFor has passed.
func (r *Resolver) retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(r.opts.RetryFor)
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || !store.Temporary(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// liveHosts caches the set of hosts whose lease is current, read at most
// once per interval: the only state the resolver keeps.
type liveHosts struct {
	every time.Duration
	mu    sync.Mutex
	at    time.Time
	set   map[string]bool
}

// get returns the live hosts, refreshing them when stale; when Redis
// does not answer, the last set is kept.
func (l *liveHosts) get(ctx context.Context, st *store.Store, log *zap.Logger) map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set != nil && time.Since(l.at) < l.every {
		return l.set
	}
	set, err := readLive(ctx, st)
	if err != nil {
		log.Warn("cannot read the live hosts; keeping the last set", zap.Error(err))
		if l.set == nil {
			l.set = map[string]bool{}
		}
		l.at = time.Now()
		return l.set
	}
	l.set, l.at = set, time.Now()
	return set
}

func readLive(ctx context.Context, st *store.Store) (map[string]bool, error) {
	hosts, err := st.Hosts.All(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(hosts))
	for h, info := range hosts {
		if info.Enabled {
			names = append(names, h)
		}
	}
	live, err := st.Hosts.Live(ctx, names)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(names))
	for i, h := range names {
		if live[i] {
			set[h] = true
		}
	}
	return set, nil
}
