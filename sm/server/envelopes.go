package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/session"
)

// localUser returns the localpart of a user's JID on this host (u@H).
func (s *Server) localUser(to string) (string, bool) {
	u, domain, ok := strings.Cut(to, "@")
	if !ok || u == "" || !strings.EqualFold(domain, s.opts.Host) {
		return "", false
	}
	return strings.ToLower(u), true
}

// handleEnvelope handles a session protocol envelope from a c2s (or from
// another sm instance, for ends).
func (s *Server) handleEnvelope(ctx context.Context, sh *shard, e *envelope.Envelope) {
	if e.Action == envelope.ActionRegister {
		s.logErr("register", s.retry(ctx, "register", func() error { return s.features.register.HandleEnvelope(ctx, e) }))
		return
	}
	u, ok := s.localUser(e.To)
	if !ok {
		s.log.Warn("session envelope not for a user of this host", zap.String("to", e.To), zap.String("from", e.From))
		return
	}
	switch e.Action {
	case envelope.ActionStart:
		s.logErr("start", s.retry(ctx, "start", func() error { return s.sessions.Start(ctx, u, e) }))
	case envelope.ActionEnd:
		s.logErr("end", s.retry(ctx, "end", func() error {
			if e.Reason == session.ReasonGone && strings.HasPrefix(e.From, "sm-") {
				return s.endGone(ctx, sh, u, e)
			}
			delete(sh.seqs, e.SID)
			_, err := s.sessions.End(ctx, u, e)
			return err
		}))
	case envelope.ActionAck:
		s.metrics.acked.Add(float64(len(e.RIDs)))
		s.logErr("ack", s.retry(ctx, "ack", func() error { return s.inbox.Ack(ctx, u, e.RIDs) }))
	case envelope.ActionAuth:
		s.logErr("auth", s.retry(ctx, "auth", func() error { return s.sessions.Auth(ctx, u, e) }))
	case envelope.ActionRedeliver:
		if strings.HasPrefix(e.From, "sm-") {
			s.logErr("redeliver", s.retry(ctx, "redeliver", func() error { return s.redeliver(ctx, u, e.SID) }))
		}
	case envelope.ActionState:
		// CSI is c2s's business; the push trigger reads it.
		if s.features.push.Enabled() {
			s.logErr("state", s.retry(ctx, "state", func() error { return s.features.push.State(ctx, u, e.SID, e.CSI == "inactive") }))
		}
	case envelope.ActionDelete:
		s.logErr("delete", s.retry(ctx, "delete", func() error { return s.deleteAccount(ctx, u, e) }))
	case "":
		if e.Stanza == nil || e.Seq == 0 {
			return
		}
		s.clientStanza(ctx, sh, u, e)
	}
}

// endGone ends a session whose c2s (or host) went away, as another
// instance found it. A c2s restarted under the same name may have
// started the session since: a session that began after its c2s came
// back up, as this instance saw it, stays (and is indexed again, since
// the finder claimed its index entry). Both times come from this
// instance's clock, and the c2s's start is read after its route came up.
func (s *Server) endGone(ctx context.Context, sh *shard, u string, e *envelope.Envelope) error {
	sessions, err := s.store.Sessions.All(ctx, u)
	if err != nil {
		return err
	}
	for res, rec := range sessions {
		if rec.SID != e.SID {
			continue
		}
		if up, ok := s.routes.upSince(rec.C2S); ok && rec.Since >= up.UnixMilli() {
			return s.store.Sessions.Index(ctx, store.Ref{User: u, Resource: res}, rec.C2S, rec.Host)
		}
		delete(sh.seqs, e.SID)
		_, err := s.sessions.End(ctx, u, e)
		return err
	}
	return nil
}

// redeliver delivers again to the session sid of u the stored stanzas
// older than RedeliverAfter that nobody acknowledged.
func (s *Server) redeliver(ctx context.Context, u, sid string) error {
	sessions, err := s.store.Sessions.All(ctx, u)
	if err != nil {
		return err
	}
	for res, rec := range sessions {
		if rec.SID != sid || !rec.Avail {
			continue
		}
		sess := &core.Session{User: u, Resource: res, Session: rec}
		n, err := s.inbox.Deliver(ctx, sess, time.Now().Add(-s.opts.RedeliverAfter), s.storedFilter)
		s.metrics.redelivered.Add(float64(n))
		return err
	}
	return nil
}

func (s *Server) logErr(what string, err error) {
	if err != nil {
		s.metrics.errors.WithLabelValues(what).Inc()
		s.log.Error("handling failed", zap.String("what", what), zap.Error(err))
	}
}

// clientStanza handles a stanza a client sent, in its session's order,
// and records it as handled.
func (s *Server) clientStanza(ctx context.Context, sh *shard, u string, e *envelope.Envelope) {
	st, perr := core.ParseStanza(e.Stanza, stream.NSClient)
	var (
		sess     *core.Session
		stored   uint64
		blocked  bool
		checkBlk = perr == nil && st.HasTo && s.outboundTarget(u, st) == 0
	)
	err := s.retry(ctx, "load session", func() error {
		b := s.store.Batch()
		sessF := b.Sessions(u)
		seqF := b.Seq(u, e.SID)
		var blkF *store.Future[bool]
		if checkBlk {
			blkF = b.Blocked(u, core.Candidates(st.To))
		}
		if err := b.Exec(ctx); err != nil {
			return err
		}
		sessions, err := sessF.Get()
		if err != nil {
			return err
		}
		sess = nil
		for res, rec := range sessions {
			if rec.SID == e.SID {
				sess = &core.Session{User: u, Resource: res, Session: rec}
			}
		}
		if stored, err = seqF.Get(); err != nil {
			return err
		}
		if blkF != nil {
			blocked, err = blkF.Get()
		}
		return err
	})
	if err != nil {
		// Not confirmed: c2s keeps the stanza; the client's stream ends
		// and the client sends it again on its next connection.
		s.logErr("load session", err)
		s.logErr("end session", s.sessions.Fail(ctx, e.From, e.SID))
		return
	}
	if sess == nil {
		delete(sh.seqs, e.SID)
		s.logErr("unknown session", s.sessions.Fail(ctx, e.From, e.SID))
		return
	}
	seq := sh.seqs[e.SID]
	if seq == nil {
		seq = &seqState{user: u, resource: sess.Resource}
		sh.seqs[e.SID] = seq
	}
	seq.c2s = e.From
	seq.catchUp(stored)
	if seq.seen(e.Seq) {
		// Sent again after a failover: handled before, confirm again.
		seq.pending = true
		return
	}
	switch {
	case perr != nil:
		s.metrics.errors.WithLabelValues("client-stanza").Inc()
		s.log.Debug("unusable client stanza", zap.String("user", u), zap.Error(perr))
		var je *core.JIDError
		if errors.As(perr, &je) && stanza.Bounceable(e.Stanza) {
			s.logErr("reply", s.reply(ctx, sess, stanza.AppendBounce(nil, e.Stanza, stanza.Errorf(stanza.JIDMalformed, "%v", je))))
		}
	case st.From.String() != s.env.FullJID(sess):
		s.log.Warn("client stanza 'from' is not its session's JID", zap.String("from", st.From.String()), zap.String("session", s.env.FullJID(sess)))
	default:
		err := s.retry(ctx, "client stanza", func() error { return s.outbound(ctx, sess, st, blocked) })
		if err != nil && store.Temporary(err) {
			s.logErr("client stanza", err)
			s.logErr("end session", s.sessions.Fail(ctx, e.From, e.SID))
			return
		}
		s.logErr("client stanza", err)
	}
	if !seq.sequence(e.Seq) {
		s.log.Warn("session far out of sequence; ending it", zap.String("user", u), zap.String("sid", e.SID))
		delete(sh.seqs, e.SID)
		s.logErr("end session", s.sessions.Fail(ctx, e.From, e.SID))
	}
}

// reply delivers a stanza sm built to a client session.
func (s *Server) reply(ctx context.Context, sess *core.Session, raw []byte) error {
	return s.env.Out.Deliver(ctx, sess, "", raw)
}

// replyError answers a client's stanza with an error from the address it
// was sent to, unless it is an error itself (never answered).
func (s *Server) replyError(ctx context.Context, sess *core.Session, st *core.Stanza, e *stanza.Error) error {
	if st.Type == "error" || st.Name == "iq" && !st.IsRequest() {
		return nil
	}
	from := ""
	if st.HasTo {
		from = st.To.String()
	}
	return s.reply(ctx, sess, core.AppendError(nil, st, from, e))
}

// replyBlocked refuses a client's stanza to an entity the user blocked.
func (s *Server) replyBlocked(ctx context.Context, sess *core.Session, st *core.Stanza) error {
	if st.Type == "error" || st.Name == "iq" && !st.IsRequest() || st.Name == "presence" {
		return nil
	}
	return s.reply(ctx, sess, core.AppendErrorRaw(nil, st, st.To.String(), core.BlockedError()))
}
