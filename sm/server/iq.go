package server

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/core"
)

// iqKey selects the handler of an IQ: its payload namespace, whom it
// is addressed to, and for a service JID, which one ("" for every
// service).
type iqKey struct {
	ns      string
	target  core.Target
	service string
}

// handle registers h for the namespace ns at the targets.
func (s *Server) handle(ns string, h core.IQHandler, targets ...core.Target) {
	for _, t := range targets {
		s.iq[iqKey{ns: ns, target: t}] = h
	}
}

// handleService registers h for the namespace ns at one service JID.
func (s *Server) handleService(service, ns string, h core.IQHandler) {
	s.iq[iqKey{ns: ns, target: core.TargetService, service: service}] = h
}

// answerIQ answers an IQ get or set sm handles; from is the address the
// answer comes from. The answer goes to the asker's session when the
// asker is one of ours, through the router otherwise.
func (s *Server) answerIQ(ctx context.Context, iq *core.IQ, from string) error {
	iq.Payload = iq.Stanza.Payload()
	var raw []byte
	switch h := s.handlerFor(iq); {
	case iq.Payload == nil:
		raw = core.AppendError(nil, iq.Stanza, from, stanza.Errorf(stanza.BadRequest, "IQ without a payload"))
	case h == nil:
		raw = core.AppendError(nil, iq.Stanza, from, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	default:
		result, err := h.HandleIQ(ctx, iq)
		var se *stanza.Error
		switch {
		case err == nil:
			raw = core.AppendIQ(nil, "result", iq.ID, from, iq.From.String(), result)
		case errors.As(err, &se):
			raw = core.AppendError(nil, iq.Stanza, from, se)
		case store.Temporary(err):
			return err
		default:
			s.metrics.errors.WithLabelValues("iq").Inc()
			s.log.Error("IQ handler failed", zap.String("ns", iq.Payload.Space), zap.Error(err))
			raw = core.AppendError(nil, iq.Stanza, from, &stanza.Error{Type: stanza.Cancel, Condition: stanza.InternalServerError})
		}
	}
	if iq.Session != nil {
		return s.env.Out.Deliver(ctx, iq.Session, "", raw)
	}
	return s.env.Out.Route(ctx, raw)
}

func (s *Server) handlerFor(iq *core.IQ) core.IQHandler {
	if iq.Payload == nil {
		return nil
	}
	if iq.Target == core.TargetService {
		if h := s.iq[iqKey{ns: iq.Payload.Space, target: core.TargetService, service: iq.Service}]; h != nil {
			return h
		}
	}
	return s.iq[iqKey{ns: iq.Payload.Space, target: iq.Target}]
}
