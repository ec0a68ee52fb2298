package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/accounts"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/disco"
	"github.com/kontalk/xmppd/sm/multicast"
	"github.com/kontalk/xmppd/sm/network"
	"github.com/kontalk/xmppd/sm/push"
	"github.com/kontalk/xmppd/sm/register"
)

// features are registration, accounts, push notifications, multicast
// and the server list: the parts whose configuration varies.
type features struct {
	register  *register.Register
	accounts  *accounts.Accounts
	push      *push.Push
	multicast *multicast.Multicast
	metrics   *featureMetrics
}

// wireFeatures builds them, registers their IQ handlers, and returns
// what discovery shows of them.
func (s *Server) wireFeatures() disco.Options {
	env := s.env
	m := newFeatureMetrics()
	f := &features{metrics: m}
	s.features = f
	f.accounts = accounts.New(env, s.inbox, s.presence)
	f.accounts.OnDeleted = func(reason string) { m.deleted.WithLabelValues(reason).Inc() }
	f.register = register.New(env, s.opts.Register, f.accounts)
	f.register.OnRegistered = m.registered.Inc
	f.push = push.New(env, s.opts.Push)
	f.push.OnSent = func(result string) { m.pushes.WithLabelValues(result).Inc() }
	f.multicast = multicast.New(env, s.sendMessage)

	s.handle(register.NS, f.register, core.TargetDomain, core.TargetSelf)
	s.handleService(core.ServiceNetwork, network.NSCommands, network.New(env))
	s.handleService(core.ServicePush, push.NS, f.push)

	opts := disco.Options{
		Components: s.connectedComponents,
		Features:   []string{multicast.NS},
		Services: map[string][]string{
			core.ServiceNetwork:   {network.NSCommands},
			core.ServiceMulticast: {multicast.NS},
		},
	}
	if f.register.Enabled() {
		opts.Features = append(opts.Features, register.NS)
	}
	if f.push.Enabled() {
		opts.Features = append(opts.Features, push.NS)
		opts.Services[core.ServicePush] = []string{push.NS}
		opts.Nodes = map[string][]*xml.Element{push.NS: f.push.Items(env.Network)}
	}
	return opts
}

// multicastMessage sends a message with XEP-0033 addresses, sent to
// multicast@N or to the domain, on to each address; it reports false
// for a message it does not take (no addresses, another service).
func (s *Server) multicastMessage(ctx context.Context, sess *core.Session, st *core.Stanza, target core.Target) (bool, error) {
	if !multicast.Addressed(st) || target == core.TargetService && st.To.Localpart() != core.ServiceMulticast {
		return false, nil
	}
	err := s.features.multicast.Send(ctx, sess, st)
	if se, ok := err.(*stanza.Error); ok {
		return true, s.replyError(ctx, sess, st, se)
	}
	return true, err
}

// deleteAccount deletes the account of u for an operator and answers.
func (s *Server) deleteAccount(ctx context.Context, u string, e *envelope.Envelope) error {
	existed, err := s.features.accounts.Delete(ctx, u, accounts.ReasonOperator)
	if err != nil {
		return err
	}
	reply := &envelope.Envelope{To: e.From, Action: envelope.ActionDeleted, JID: s.env.UserJID(u)}
	if !existed {
		reply.Action, reply.Error = envelope.ActionFailed, stanza.Errorf(stanza.ItemNotFound, "no such user")
	}
	return s.env.Out.Envelope(ctx, reply)
}

// runPurge deletes users inactive for longer than PurgeAfter, on one
// instance of the network at a time (the holder of lock:{purge}).
func (s *Server) runPurge(ctx context.Context) {
	if s.opts.PurgeAfter <= 0 {
		return
	}
	t := time.NewTicker(s.opts.PurgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := s.store.Hosts.Lock(ctx, "purge", s.opts.Name, s.opts.PurgeEvery)
		if err != nil || !held {
			continue
		}
		n, err := s.features.accounts.Purge(ctx, time.Now().Add(-s.opts.PurgeAfter), purgeBatch)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("purge failed", zap.Int("deleted", n), zap.Error(err))
		} else if n > 0 {
			s.log.Info("inactive users purged", zap.Int("deleted", n))
		}
	}
}

// purgeBatch bounds the users one purge deletes; the next takes the rest.
const purgeBatch = 1000

// featureMetrics count what the features do.
type featureMetrics struct {
	registered prometheus.Counter
	deleted    *prometheus.CounterVec
	pushes     *prometheus.CounterVec
}

func newFeatureMetrics() *featureMetrics {
	return &featureMetrics{
		registered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_registrations_total", Help: "Registrations completed (keys certified for a verified number).",
		}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_sm_accounts_deleted_total", Help: "Accounts deleted, by reason (operator, inactive, replaced).",
		}, []string{"reason"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_sm_pushes_total", Help: "Push wake-ups, by result (sent, failed, unregistered, dropped).",
		}, []string{"result"}),
	}
}

func (m *featureMetrics) register(reg prometheus.Registerer) {
	if reg != nil {
		reg.MustRegister(m.registered, m.deleted, m.pushes)
	}
}
