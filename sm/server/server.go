package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/blocking"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/disco"
	"github.com/kontalk/xmppd/sm/inbox"
	"github.com/kontalk/xmppd/sm/lastactivity"
	"github.com/kontalk/xmppd/sm/presence"
	"github.com/kontalk/xmppd/sm/pubkey"
	"github.com/kontalk/xmppd/sm/roster"
	"github.com/kontalk/xmppd/sm/rostermatch"
	"github.com/kontalk/xmppd/sm/session"
	"github.com/kontalk/xmppd/sm/version"
)

// Server is one sm instance.
type Server struct {
	opts    Options
	log     *zap.Logger
	store   *store.Store
	client  *component.Client
	env     *core.Env
	keys    *serverKeys
	metrics *metrics
	routes  *routeSet

	sessions *session.Manager
	presence *presence.Presence
	roster   *roster.Roster
	inbox    *inbox.Inbox
	iq       map[iqKey]core.IQHandler
	features *features

	shards   []*shard
	stopping chan struct{} // closed when the server stops taking stanzas
	stopOnce sync.Once
	sweepNow chan struct{}
	// reconnected is signalled after each connection to the router.
	reconnected chan struct{}
	reaps       chan reap
}

// New validates opts and builds the server; it does no I/O.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	keys, err := parseServerKeys(opts.ServerKeys)
	if err != nil {
		return nil, fmt.Errorf("sm: %w", err)
	}
	if opts.Register.Provider != nil && keys.signer == nil {
		return nil, errors.New("sm: registration needs the server's private key: -server-key must start with the current key's private block")
	}
	opts.Register.Signer = keys.signer
	opts.Redis.Metrics = reg
	st, err := store.Open(opts.Redis)
	if err != nil {
		return nil, fmt.Errorf("sm: %w", err)
	}
	s := &Server{
		opts:        opts,
		log:         log,
		store:       st,
		keys:        keys,
		metrics:     newMetrics(reg),
		routes:      newRouteSet(),
		stopping:    make(chan struct{}),
		sweepNow:    make(chan struct{}, 1),
		reconnected: make(chan struct{}, 1),
		reaps:       make(chan reap, 64),
	}
	s.client, err = component.New(component.Config{
		Addr:   opts.Router,
		Name:   opts.Name,
		Secret: opts.Secret,
		Binds: []component.Bind{
			{Name: opts.Host, Multi: true},
			{Name: "sm." + opts.Host, Multi: true},
		},
		OnStanza:     s.onStanza,
		OnRoute:      s.onRoute,
		OnConnect:    s.onConnect,
		OnDisconnect: func(error) { s.routes.disconnected() },
		// Room for fan-out bursts: a presence to a large roster.
		QueueBytes: 16 << 20,
		// Stanzas up to the s2s limit, inside an envelope.
		Limits:     xml.Limits{MaxElementBytes: 1 << 20},
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 2 * time.Second,
		Log:        log,
	})
	if err != nil {
		return nil, fmt.Errorf("sm: %w", err)
	}
	s.env = &core.Env{
		Config: core.Config{Network: opts.Network, Host: opts.Host, Instance: opts.Name, Started: time.Now()},
		Store:  st,
		Out:    &sender{client: s.client, name: opts.Name, m: s.metrics},
		Log:    log,
	}
	s.wire()
	s.shards = make([]*shard, opts.Shards)
	for i := range s.shards {
		s.shards[i] = newShard(opts.QueueLen)
	}
	s.metrics.queue(reg, s.queued)
	s.features.metrics.register(reg)
	return s, nil
}

// wire builds the features and the IQ handler table.
func (s *Server) wire() {
	env := s.env
	s.inbox = inbox.New(env)
	s.inbox.OnDelivered = func(waited time.Duration) { s.metrics.waited.Observe(waited.Seconds()) }
	s.presence = presence.New(env)
	s.roster = roster.New(env, s.inbox, s.presence)
	s.presence.OnInitial = func(ctx context.Context, sess *core.Session) error {
		n, err := s.inbox.Deliver(ctx, sess, time.Time{}, s.storedFilter)
		s.metrics.stored.Add(float64(n))
		s.metrics.backlog.Observe(float64(n))
		return err
	}
	s.sessions = session.New(env, s.presence, s.keys.trust)
	s.sessions.OnStarted = func() { s.metrics.started.Inc() }
	s.sessions.OnEnded = func(reason string) { s.metrics.ended.WithLabelValues(reason).Inc() }
	s.iq = map[iqKey]core.IQHandler{}
	block := blocking.New(env, s.presence)
	last := lastactivity.New(env)
	keys := pubkey.New(env, s.keys.current)
	dis := disco.New(env, s.wireFeatures())
	ver := version.New()
	match := rostermatch.New(env)
	s.handle(roster.NS, s.roster, core.TargetSelf)
	s.handle(core.NSBlocking, block, core.TargetSelf)
	s.handle(core.NSPubkey, keys, core.TargetDomain, core.TargetSelf, core.TargetUser)
	s.handle(lastactivity.NS, last, core.TargetDomain, core.TargetSelf, core.TargetUser)
	s.handle(disco.NSInfo, dis, core.TargetDomain, core.TargetSelf, core.TargetUser, core.TargetService)
	s.handle(disco.NSItems, dis, core.TargetDomain, core.TargetSelf, core.TargetUser, core.TargetService)
	s.handle(version.NSVersion, ver, core.TargetDomain)
	s.handle(version.NSPing, version.Ping{}, core.TargetDomain, core.TargetSelf, core.TargetUser, core.TargetService)
	s.handle(rostermatch.NS, match, core.TargetSelf)
	s.handleService(core.ServiceProbe, rostermatch.NS, match)
}

// storedFilter re-applies subscription presences delivered from the
// inbox to the roster (idempotent), and drops those that no longer
// apply.
func (s *Server) storedFilter(ctx context.Context, sess *core.Session, st *core.Stanza, rid string) (bool, error) {
	if st.Name != "presence" {
		return true, nil
	}
	return s.roster.Inbound(ctx, sess.User, st, rid)
}

// Run connects to the router and serves until ctx ends, then drains:
// stanzas already read are handled within the shutdown timeout, then
// the router connection is flushed and closed. Sessions stay in Redis
// for the other instances.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	clientCtx, cancelClient := context.WithCancel(context.Background())
	defer cancelClient()

	var wg sync.WaitGroup
	clientDone := make(chan error, 1)
	go func() { clientDone <- s.client.Run(clientCtx) }()
	for _, sh := range s.shards {
		wg.Go(func() { s.runShard(work, sh) })
	}
	var bg sync.WaitGroup
	bg.Go(func() { s.runLease(ctx) })
	bg.Go(func() { s.runSweeps(ctx) })
	bg.Go(func() { s.runReaps(ctx) })
	bg.Go(func() { s.features.push.Run(ctx) })
	bg.Go(func() { s.runPurge(ctx) })

	<-ctx.Done()
	s.log.Info("stopping: draining")
	s.stop()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	select {
	case <-drained:
	case <-timer.C:
		s.log.Warn("drain timed out; abandoning the stanzas left", zap.Duration("timeout", s.opts.ShutdownTimeout))
		cancelWork()
		<-drained
	}
	timer.Stop()
	bg.Wait()
	cancelClient()
	return <-clientDone
}

// stop makes the server take no more stanzas.
func (s *Server) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// Ready reports whether the server can work: connected to the router
// and Redis answering.
func (s *Server) Ready(ctx context.Context) error {
	if !s.client.Connected() {
		return errors.New("not connected to the router")
	}
	return s.store.Ping(ctx)
}

// sender sends through the router connection.
type sender struct {
	client *component.Client
	name   string
	m      *metrics
}

func (o *sender) Route(ctx context.Context, raw []byte) error {
	if err := o.client.Send(ctx, raw); err != nil {
		return fmt.Errorf("route: %w", err)
	}
	return nil
}

func (o *sender) Deliver(ctx context.Context, sess *core.Session, rid string, raw []byte) error {
	o.m.delivered.Inc()
	if err := o.client.Send(ctx, envelope.AppendDelivery(nil, o.name, sess.C2S, sess.SID, rid, raw)); err != nil {
		return fmt.Errorf("deliver to %s: %w", sess.C2S, err)
	}
	return nil
}

func (o *sender) Envelope(ctx context.Context, e *envelope.Envelope) error {
	e.From = o.name
	if err := o.client.Send(ctx, envelope.Append(nil, e)); err != nil {
		return fmt.Errorf("envelope to %s: %w", e.To, err)
	}
	return nil
}
