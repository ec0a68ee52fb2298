package server

import (
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// handleBind handles what an authenticated client sends before it has a
// resource: bind (RFC 6120 §7), resumption (XEP-0198) and pings.
func (c *conn) handleBind(top *xml.Top) *closeCause {
	ns := top.Value("xmlns")
	switch {
	case top.Is("iq"):
		typ := top.Value("type")
		if typ == "result" || typ == "error" {
			return nil
		}
		el, err := xml.Parse(top.Raw, c.r.Header().Scope)
		if err != nil {
			return c.iqError(top, &stanza.Error{Condition: stanza.BadRequest, Text: "unreadable IQ"})
		}
		switch {
		case el.Child("bind", NSBind) != nil:
			return c.bind(top, el)
		case el.Child("session", NSSession) != nil && typ == "set":
			return c.iqResult(top)
		case el.Child("ping", NSPing) != nil && typ == "get":
			return c.iqResult(top)
		}
		return c.iqError(top, &stanza.Error{Condition: stanza.NotAuthorized, Text: "bind a resource first"})
	case top.Is("resume") && ns == NSSM:
		return c.resume(top)
	case top.Is("enable") && ns == NSSM:
		return c.smFailed(stanza.UnexpectedRequest, "bind a resource first")
	case ns == NSSM || ns == NSCSI:
		return nil
	case top.Is("message") || top.Is("presence"):
		return fail(stream.NotAuthorized, "bind a resource first")
	}
	return fail(stream.UnsupportedStanzaType, "<"+string(top.Name())+"/> is not a stanza")
}

// bind binds a resource: sm starts the session, and the result is written
// once it has (session.started).
func (c *conn) bind(top *xml.Top, el *xml.Element) *closeCause {
	if el.Attr("type") != "set" {
		return c.iqError(top, &stanza.Error{Condition: stanza.BadRequest, Text: "bind with an IQ of type set"})
	}
	resource := ""
	if r := el.Child("bind", NSBind).Child("resource", NSBind); r != nil {
		resource = strings.TrimSpace(r.Text())
	}
	if resource == "" {
		resource = newID(8)
	}
	id := c.verified
	full, err := jid.New(id.localpart, c.srv.opts.Network, resource)
	if err != nil {
		return c.iqError(top, &stanza.Error{Condition: stanza.BadRequest, Text: "invalid resource"})
	}
	sess := &session{
		srv:         c.srv,
		sid:         newID(16),
		jid:         full.String(),
		localpart:   id.localpart,
		user:        id.localpart + "@" + c.srv.opts.Host,
		remote:      c.remote.String(),
		fingerprint: id.fingerprint,
		conn:        c,
		bindID:      el.Attr("id"),
	}
	if old := c.srv.addSession(sess); old != nil {
		c.srv.m.conflicts.Inc()
		c.logger().Info("replacing a session with the same resource", zap.String("jid", sess.jid))
		c.srv.send(c.srv.appendEnd(nil, old.user, old.sid, old.unacked()))
		if oc := old.attached(); oc != nil {
			oc.kill(reasonConflict, &stream.Error{Condition: stream.Conflict, Text: "replaced by a new session for the same resource"})
		}
	}
	start := c.srv.appendStart(nil, sess.user, startInfo{sid: sess.sid, jid: sess.jid, remote: sess.remote, fingerprint: sess.fingerprint})
	if err := c.srv.send(start); err != nil {
		c.srv.remove(sess)
		return &closeCause{reason: reasonShutdown}
	}
	err = c.wait(c.srv.opts.SMTimeout, func() bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return sess.state != sessStarting
	})
	sess.mu.Lock()
	state, serr := sess.state, sess.err
	if state == sessStarting {
		sess.state = sessFailed
	}
	sess.mu.Unlock()
	switch {
	case state == sessActive:
		c.sess = sess
		c.phase = phaseSession
		c.lastRead = time.Now()
		c.mu.Lock()
		c.bound = sess.jid
		c.mu.Unlock()
		c.srv.m.logins.Observe(time.Since(c.started).Seconds())
		return nil
	case errors.Is(err, errClosing):
		c.srv.end(sess)
		return c.closeCause()
	case state == sessStarting:
		// sm did not answer: end what it may have started late, and let
		// the client try again.
		c.srv.end(sess)
		c.srv.m.smTimeouts.Inc()
		return c.iqError(top, &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "the session manager did not answer"})
	}
	c.srv.remove(sess)
	if serr == nil {
		serr = &stanza.Error{Condition: stanza.NotAuthorized}
	}
	c.logger().Info("session refused by sm", zap.String("condition", string(serr.Condition)), zap.String("text", serr.Text))
	if cause := c.iqError(top, serr); cause != nil {
		return cause
	}
	if serr.Type == stanza.Wait {
		return nil // the router could not reach sm: the client may retry
	}
	text := serr.Text
	if text == "" {
		text = "no session allowed"
	}
	return fail(stream.NotAuthorized, text)
}

// attached returns the connection of a session, nil when detached.
func (s *session) attached() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func (s *session) unacked() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unackedLocked()
}
