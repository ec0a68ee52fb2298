package server

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/inbox"
)

// outboundTarget classifies the 'to' of a stanza from the user u: the
// server answers for its own domain, the user's account and the service
// JIDs; 0 means another entity, to route.
func (s *Server) outboundTarget(u string, st *core.Stanza) core.Target {
	if !st.HasTo {
		return core.TargetSelf
	}
	to := st.To
	if to.Localpart() == "" {
		if to.Domainpart() == s.opts.Network || to.Domainpart() == s.opts.Host {
			return core.TargetDomain
		}
		return 0
	}
	if to.Domainpart() != s.opts.Network || to.Resourcepart() != "" {
		return 0
	}
	switch {
	case to.Localpart() == u:
		return core.TargetSelf
	case core.IsService(to.Localpart()):
		return core.TargetService
	}
	return 0
}

// outbound handles a stanza from one of this network's clients.
// blocked reports that its 'to' is on the user's blocking list.
func (s *Server) outbound(ctx context.Context, sess *core.Session, st *core.Stanza, blocked bool) error {
	target := s.outboundTarget(sess.User, st)
	switch st.Name {
	case "iq":
		if target != 0 {
			if !st.IsRequest() {
				return nil // answers to the server's pushes
			}
			from := ""
			if st.HasTo {
				from = st.To.String()
			}
			return s.answerIQ(ctx, &core.IQ{Stanza: st, Target: target, User: sess.User, Service: st.To.Localpart(), Session: sess}, from)
		}
		if blocked {
			return s.replyBlocked(ctx, sess, st)
		}
		return s.env.Out.Route(ctx, st.Top.Raw)
	case "message":
		switch target {
		case core.TargetDomain, core.TargetService:
			if sent, err := s.multicastMessage(ctx, sess, st, target); sent || err != nil {
				return err
			}
			return s.replyError(ctx, sess, st, stanza.Errorf(stanza.ServiceUnavailable, "no such service"))
		}
		if blocked {
			return s.replyBlocked(ctx, sess, st)
		}
		return s.sendMessage(ctx, sess, st)
	case "presence":
		if !st.HasTo {
			return s.presence.Outbound(ctx, sess, st)
		}
		if target != 0 || blocked {
			return nil
		}
		switch st.Type {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
			return s.roster.Outbound(ctx, sess, st)
		}
		return s.env.Out.Route(ctx, st.Top.Raw)
	}
	return nil
}

// sendMessage stores a client's message in its recipient's inbox when it
// is one to keep, then routes it.
func (s *Server) sendMessage(ctx context.Context, sess *core.Session, st *core.Stanza) error {
	top := st.Top
	changed := false
	if !st.HasTo {
		// RFC 6120 §10.3: no 'to' means the user's own bare JID.
		top, changed = reparse(top, "to", s.env.UserJID(sess.User)), true
	}
	if st.ID == "" && (changed || inbox.Storable(st)) {
		top, changed = reparse(top, "id", core.NewID()), true
	}
	if top == nil {
		return nil
	}
	if changed {
		var err error
		if st, err = core.ParseStanza(top, st.El.Space); err != nil {
			return nil
		}
	}
	res, err := s.inbox.Send(ctx, st, top.Raw)
	if err != nil {
		return err
	}
	s.metrics.sent.WithLabelValues(res.String()).Inc()
	switch res {
	case store.UnknownUser:
		return s.replyError(ctx, sess, st, stanza.Errorf(stanza.ItemNotFound, "no such user"))
	case store.BlockedSender:
		return s.replyError(ctx, sess, st, stanza.Errorf(stanza.ServiceUnavailable, ""))
	case store.InboxFull:
		return s.replyError(ctx, sess, st, &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "the recipient's inbox is full"})
	}
	return nil
}

// reparse returns the element of top with an attribute set, read again.
func reparse(top *xml.Top, name, value string) *xml.Top {
	if top == nil {
		return nil
	}
	t, err := core.ParseRaw(top.AppendWithAttr(nil, name, value))
	if err != nil {
		return nil
	}
	return t
}

// handleStanza handles a stanza from the router that is not an envelope:
// for this host's domain, a service JID, or a user (u@H, rewritten from
// u@N by the resolver).
func (s *Server) handleStanza(ctx context.Context, top *xml.Top) {
	st, err := core.ParseStanza(top, "jabber:component:accept")
	if err != nil {
		var je *core.JIDError
		if errors.As(err, &je) && stanza.Bounceable(top) {
			s.logErr("bounce", s.env.Out.Route(ctx, stanza.AppendBounce(nil, top, stanza.Errorf(stanza.JIDMalformed, "%v", je))))
		}
		return
	}
	if !st.HasTo || !st.HasFrom {
		return
	}
	to := st.To
	switch {
	case to.Localpart() == "":
		if st.IsRequest() {
			s.logErr("domain iq", s.retry(ctx, "domain iq", func() error {
				return s.answerIQ(ctx, &core.IQ{Stanza: st, Target: core.TargetDomain}, s.opts.Network)
			}))
		}
	case to.Domainpart() != s.opts.Host:
		s.log.Debug("stanza for another domain", zap.String("to", to.String()))
	case core.IsService(to.Localpart()):
		if st.IsRequest() {
			s.logErr("service iq", s.retry(ctx, "service iq", func() error {
				return s.answerIQ(ctx, &core.IQ{Stanza: st, Target: core.TargetService, Service: to.Localpart()}, to.Localpart()+"@"+s.opts.Network)
			}))
		}
	default:
		u := to.Localpart()
		s.logErr("inbound", s.retry(ctx, "inbound", func() error { return s.inbound(ctx, u, st) }))
	}
}

// networkTo is the address the sender used: u@N[/resource].
func (s *Server) networkTo(u string, st *core.Stanza) string {
	if r := st.To.Resourcepart(); r != "" {
		return u + "@" + s.opts.Network + "/" + r
	}
	return u + "@" + s.opts.Network
}

// inbound handles a stanza for the user u from someone else.
func (s *Server) inbound(ctx context.Context, u string, st *core.Stanza) error {
	b := s.store.Batch()
	sessF := b.Sessions(u)
	blkF := b.Blocked(u, core.Candidates(st.From))
	if err := b.Exec(ctx); err != nil {
		return err
	}
	sessions, err := sessF.Get()
	if err != nil {
		return err
	}
	blocked, err := blkF.Get()
	if err != nil {
		return err
	}
	// Unavailable presence and the server's own stanzas always pass.
	if blocked && !(st.Name == "presence" && st.Type == "unavailable") && st.From.Localpart() != "" {
		if st.Name == "message" && st.Type != "error" || st.IsRequest() {
			return s.env.Out.Route(ctx, core.AppendError(nil, st, s.networkTo(u, st), stanza.Errorf(stanza.ServiceUnavailable, "")))
		}
		return nil
	}
	switch st.Name {
	case "message":
		return s.deliverMessage(ctx, u, sessions, st)
	case "presence":
		switch st.Type {
		case "probe":
			return s.presence.Probe(ctx, u, st)
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
			return s.inboundSubscription(ctx, u, sessions, st)
		}
		return s.presence.Inbound(ctx, u, sessions, st)
	case "iq":
		if res := st.To.Resourcepart(); res != "" {
			if rec, ok := sessions[res]; ok {
				sess := &core.Session{User: u, Resource: res, Session: rec}
				return s.env.Out.Deliver(ctx, sess, "", core.Readdress(st.Top, s.env.FullJID(sess)))
			}
			if st.IsRequest() {
				return s.env.Out.Route(ctx, core.AppendError(nil, st, s.networkTo(u, st), stanza.Errorf(stanza.ServiceUnavailable, "")))
			}
			return nil
		}
		if st.IsRequest() {
			return s.answerIQ(ctx, &core.IQ{Stanza: st, Target: core.TargetUser, User: u}, s.env.UserJID(u))
		}
	}
	return nil
}

// fromNetwork reports whether the sender is a user of the network, whose
// sm stored a storable stanza before routing it.
func (s *Server) fromNetwork(st *core.Stanza) bool {
	return st.From.Domainpart() == s.opts.Network && st.From.Localpart() != ""
}

// stash makes sure a storable stanza for u is in u's inbox and returns
// its rid; ok is false when it must not be delivered (the sender is
// blocked, the inbox is full: bounced).
func (s *Server) stash(ctx context.Context, u string, st *core.Stanza) (rid string, ok bool, err error) {
	if s.fromNetwork(st) {
		return inbox.RID(st), true, nil
	}
	res, rid, err := s.inbox.Put(ctx, u, st, st.Top.Raw)
	if err != nil {
		return "", false, err
	}
	switch res {
	case store.Stored, store.Duplicate:
		return rid, true, nil
	case store.InboxFull:
		if st.Type != "error" {
			err = s.env.Out.Route(ctx, core.AppendError(nil, st, s.networkTo(u, st), &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "inbox full"}))
		}
	}
	return "", false, err
}

// deliverMessage hands a message to the user's sessions (RFC 6121
// §8.5.2, §8.5.3): to the session named by a full 'to', or to every
// available session of non-negative priority, storing it first when it
// is one to keep.
func (s *Server) deliverMessage(ctx context.Context, u string, sessions map[string]store.Session, st *core.Stanza) error {
	rid := ""
	if inbox.StorableContent(st) {
		var ok bool
		var err error
		if rid, ok, err = s.stash(ctx, u, st); err != nil || !ok {
			return err
		}
	}
	if res := st.To.Resourcepart(); res != "" {
		if rec, ok := sessions[res]; ok {
			sess := &core.Session{User: u, Resource: res, Session: rec}
			return s.env.Out.Deliver(ctx, sess, rid, core.Readdress(st.Top, s.env.FullJID(sess)))
		}
		switch st.Type {
		case "", "normal", "chat":
			// Delivered as if sent to the bare JID (RFC 6121 §8.5.3.2.1).
		default:
			return nil
		}
	}
	for res, rec := range sessions {
		if !rec.Avail || rec.Prio < 0 {
			continue
		}
		sess := &core.Session{User: u, Resource: res, Session: rec}
		if err := s.env.Out.Deliver(ctx, sess, rid, core.Readdress(st.Top, s.env.FullJID(sess))); err != nil {
			return err
		}
	}
	s.features.push.Message(u, sessions, st)
	return nil
}

// inboundSubscription applies a subscription presence to the user's
// roster and delivers it when it is for the user to see.
func (s *Server) inboundSubscription(ctx context.Context, u string, sessions map[string]store.Session, st *core.Stanza) error {
	rid, ok, err := s.stash(ctx, u, st)
	if err != nil || !ok {
		return err
	}
	deliver, err := s.roster.Inbound(ctx, u, st, rid)
	if err != nil || !deliver {
		return err
	}
	for res, rec := range sessions {
		if !rec.Avail {
			continue
		}
		sess := &core.Session{User: u, Resource: res, Session: rec}
		if err := s.env.Out.Deliver(ctx, sess, rid, core.Readdress(st.Top, s.env.FullJID(sess))); err != nil {
			return err
		}
	}
	return nil
}
