package server

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/store"
)

// scanBatch is the number of session index entries read per round trip.
const scanBatch = 200

func (s *Server) triggerSweep() {
	select {
	case s.sweepNow <- struct{}{}:
	default:
	}
}

// runSweeps runs the sweep every SweepEvery, when a component's route
// changes, and shortly after each connection to the router.
func (s *Server) runSweeps(ctx context.Context) {
	tick := time.NewTicker(s.opts.SweepEvery)
	defer tick.Stop()
	after := time.NewTimer(time.Hour)
	after.Stop()
	defer after.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.reconnected:
			after.Reset(routeGrace + 100*time.Millisecond)
			continue
		case <-tick.C:
		case <-after.C:
		case <-s.sweepNow:
		}
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep failed", zap.Error(err))
		}
	}
}

// sweep, run by one instance per host at a time, goes over the host's
// sessions: it delivers again the stored messages older than
// RedeliverAfter that the client did not acknowledge (to sessions with
// XEP-0198, whose clients acknowledge), ends sessions whose c2s has been
// missing from the routes for C2SGrace,
// drops stale index entries, and ends the sessions of hosts whose lease
// expired.
func (s *Server) sweep(ctx context.Context) error {
	mine, err := s.store.Hosts.Lock(ctx, "sweep:"+s.opts.Host, s.opts.Name, 3*s.opts.SweepEvery)
	if err != nil || !mine {
		return err
	}
	s.metrics.sweeps.Inc()
	cutoff := time.Now().Add(-s.opts.RedeliverAfter)
	var cursor uint64
	for {
		refs, next, err := s.store.Sessions.ScanHost(ctx, s.opts.Host, cursor, scanBatch)
		if err != nil {
			return err
		}
		if err := s.sweepRefs(ctx, refs, cutoff); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return s.sweepDeadHosts(ctx)
}

func (s *Server) sweepRefs(ctx context.Context, refs []store.Ref, cutoff time.Time) error {
	if len(refs) == 0 {
		return nil
	}
	b := s.store.Batch()
	sessions := map[string]*store.Future[map[string]store.Session]{}
	oldest := map[string]*store.Future[int64]{}
	for _, r := range refs {
		if sessions[r.User] == nil {
			sessions[r.User] = b.Sessions(r.User)
			oldest[r.User] = b.InboxOldest(r.User)
		}
	}
	if err := b.Exec(ctx); err != nil {
		return err
	}
	for _, r := range refs {
		all, err := sessions[r.User].Get()
		if err != nil {
			return err
		}
		rec, ok := all[r.Resource]
		switch {
		case !ok || rec.Host != s.opts.Host:
			if err := s.store.Sessions.Unindex(ctx, r, "", s.opts.Host); err != nil {
				return err
			}
			continue
		case s.routes.missingFor(rec.C2S) > s.opts.C2SGrace:
			s.endRemotely(ctx, r.User, rec.SID)
			continue
		case !rec.Avail || !rec.SM:
			continue
		}
		first, err := oldest[r.User].Get()
		if err != nil {
			return err
		}
		if first == 0 || first >= cutoff.UnixMicro() {
			continue
		}
		// The owner delivers, in order with the user's other stanzas.
		e := &envelope.Envelope{To: r.User + "@" + s.opts.Host, Action: envelope.ActionRedeliver, SID: rec.SID}
		if err := s.env.Out.Envelope(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// sweepDeadHosts ends the sessions of hosts whose lease expired.
func (s *Server) sweepDeadHosts(ctx context.Context) error {
	hosts, err := s.store.Hosts.All(ctx)
	if err != nil {
		return err
	}
	var names []string
	for h := range hosts {
		if h != s.opts.Host {
			names = append(names, h)
		}
	}
	live, err := s.store.Hosts.Live(ctx, names)
	if err != nil {
		return err
	}
	for i, h := range names {
		if live[i] {
			continue
		}
		for {
			refs, err := s.store.Sessions.ClaimHost(ctx, h, 100)
			if err != nil {
				return err
			}
			if len(refs) == 0 {
				break
			}
			for _, r := range refs {
				if rec, err := s.store.Sessions.Get(ctx, r.User, r.Resource); err == nil && rec.Host == h {
					s.endRemotely(ctx, r.User, rec.SID)
				}
			}
		}
	}
	return nil
}
