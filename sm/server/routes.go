package server

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/session"
)

// routeGrace is how long after connecting to the router the route set
// is taken as complete (the router sends it right after the handshake).
const routeGrace = 2 * time.Second

// routeSet is the router's view of which components are connected, from
// route presence.
type routeSet struct {
	mu          sync.Mutex
	up          map[string]time.Time // names up, and since when
	downAt      map[string]time.Time // when a name went away
	connectedAt time.Time            // zero while disconnected
}

func newRouteSet() *routeSet {
	return &routeSet{up: map[string]time.Time{}, downAt: map[string]time.Time{}}
}

func (r *routeSet) set(name string, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if up {
		if _, ok := r.up[name]; !ok {
			r.up[name] = time.Now()
		}
		delete(r.downAt, name)
	} else {
		delete(r.up, name)
		r.downAt[name] = time.Now()
	}
}

// upSince returns when name came up, and whether it is up.
func (r *routeSet) upSince(name string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.up[name]
	return t, ok
}

// missingFor returns how long name has been known to be absent: since it
// went away, or since this connection began for a name never seen; 0
// while it is up or the set is unknown (disconnected).
func (r *routeSet) missingFor(name string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, up := r.up[name]; up || r.connectedAt.IsZero() {
		return 0
	}
	since := r.connectedAt
	if t, ok := r.downAt[name]; ok && t.After(since) {
		since = t
	}
	return time.Since(since)
}

func (r *routeSet) isUp(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.up[name]
	return ok
}

func (r *routeSet) connected() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connectedAt = time.Now()
}

func (r *routeSet) disconnected() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.up)
	clear(r.downAt)
	r.connectedAt = time.Time{}
}

func (r *routeSet) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.up))
	for n := range r.up {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// connectedComponents lists the configured components that are
// connected now, for the domain's disco#items.
func (s *Server) connectedComponents() []string {
	var out []string
	for _, c := range s.opts.Components {
		if s.routes.isUp(c) {
			out = append(out, c)
		}
	}
	return out
}

// onConnect runs after each connection to the router: anything in flight
// when the previous one broke may be lost, so a sweep follows once the
// route set is known.
func (s *Server) onConnect() {
	s.routes.connected()
	select {
	case s.reconnected <- struct{}{}:
	default:
	}
}

// onRoute follows route presence: a c2s of this host that went away
// takes its sessions with it; another sm or a resolver that went away
// may have lost stanzas, which a sweep redelivers.
func (s *Server) onRoute(name string, up bool) {
	s.routes.set(name, up)
	if !strings.HasSuffix(name, "."+s.opts.Host) {
		return
	}
	switch {
	case !up && strings.HasPrefix(name, "c2s-"):
		select {
		case s.reaps <- reap{c2s: name}:
		default:
			// Many at once: the sweep ends those sessions too.
			s.triggerSweep()
		}
	case strings.HasPrefix(name, "sm-") || strings.HasPrefix(name, "resolver-"):
		s.triggerSweep()
	}
}

// reap is a c2s instance that went away.
type reap struct {
	c2s string
}

// runReaps ends the sessions of c2s instances that went away.
func (s *Server) runReaps(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.reaps:
			s.reapC2S(ctx, r)
		}
	}
}

// reapC2S claims the sessions indexed under a gone c2s (each instance
// claims a share; every entry once) and asks the instance that owns
// each user to end the session: that instance decides (a session the
// c2s started after it came back stays, see endGone) and sends the
// unavailable presence in the order of the user's other stanzas.
func (s *Server) reapC2S(ctx context.Context, r reap) {
	// A kept session is indexed again by its owner and may be claimed
	// again: it is put back at once, and the reap ends when a claim
	// brings nothing new (the sweep covers anything left).
	seen := map[store.Ref]bool{}
	for ctx.Err() == nil {
		refs, err := s.store.Sessions.ClaimC2S(ctx, r.c2s, 100)
		if err != nil {
			s.log.Warn("cannot claim the sessions of a gone c2s; the sweep will", zap.String("c2s", r.c2s), zap.Error(err))
			return
		}
		fresh := 0
		for _, ref := range refs {
			rec, err := s.store.Sessions.Get(ctx, ref.User, ref.Resource)
			if err != nil || rec.C2S != r.c2s {
				continue // ended meanwhile, or moved to another c2s
			}
			if seen[ref] {
				s.logErr("reindex", s.store.Sessions.Index(ctx, ref, rec.C2S, rec.Host))
				continue
			}
			seen[ref] = true
			fresh++
			s.endRemotely(ctx, ref.User, rec.SID)
		}
		if fresh == 0 {
			return
		}
	}
}

// endRemotely has the instance that owns the user end a session.
func (s *Server) endRemotely(ctx context.Context, u, sid string) {
	e := &envelope.Envelope{To: u + "@" + s.opts.Host, Action: envelope.ActionEnd, SID: sid, Reason: session.ReasonGone}
	s.logErr("end remotely", s.env.Out.Envelope(ctx, e))
}
