package server

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/store"
)

// runLease lists the host in the network's membership (unless an
// operator did) and keeps its lease alive: a host whose lease expired is
// down, and the resolver ignores its sessions.
func (s *Server) runLease(ctx context.Context) {
	registered := false
	t := time.NewTicker(s.opts.LeaseEvery)
	defer t.Stop()
	for {
		if !registered {
			// An operator's entry is kept, with the fingerprint of the
			// current key (a rotation changes it).
			h := store.Host{Enabled: true, Fingerprint: s.keys.fingerprint}
			added, err := s.store.Hosts.Register(ctx, s.opts.Host, h)
			if err == nil && !added && s.keys.fingerprint != "" {
				err = s.store.Hosts.SetFingerprint(ctx, s.opts.Host, s.keys.fingerprint)
			}
			if err == nil {
				registered = true
			} else if ctx.Err() == nil {
				s.log.Warn("cannot register the host", zap.Error(err))
			}
		}
		if err := s.store.Hosts.Renew(ctx, s.opts.Host, s.opts.Name, s.opts.LeaseTTL); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot renew the host's lease", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
