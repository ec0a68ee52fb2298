package server

import (
	"strconv"
	"time"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// XEP-0198 stream management. Inbound, a client stanza counts as handled
// only once sm confirmed it (session.inboundH), so the client's "sent"
// tick means "stored". Outbound, the client's acknowledgements of stored
// stanzas go to sm, which removes them from the inbox; what the client
// never acknowledged stays there and is delivered again.

// handleSM handles the XEP-0198 nonzas of a bound client.
func (c *conn) handleSM(top *xml.Top) *closeCause {
	switch string(top.Local()) {
	case "enable":
		return c.enable(top)
	case "r":
		return c.ackRequest()
	case "a":
		return c.clientAck(top)
	case "resume":
		return c.smFailed(stanza.UnexpectedRequest, "a resource is bound already")
	}
	return fail(stream.UnsupportedStanzaType, "<"+string(top.Name())+"/> is not an XEP-0198 element")
}

// smFailed answers an XEP-0198 request with <failed/>.
func (c *conn) smFailed(cond stanza.Condition, text string) *closeCause {
	buf := []byte("<failed xmlns='" + NSSM + "'><" + string(cond) + " xmlns='" + stanza.NSStanzas + "'/>")
	if text != "" {
		buf = append(buf, "<text xmlns='"+stanza.NSStanzas+"'>"...)
		buf = xml.AppendEscapedText(buf, text)
		buf = append(buf, "</text>"...)
	}
	buf = append(buf, "</failed>"...)
	if !c.w.write(buf) {
		return &closeCause{reason: reasonWriteError}
	}
	return nil
}

// enable turns stream management on, resumable when asked and allowed.
func (c *conn) enable(top *xml.Top) *closeCause {
	s := c.sess
	v := top.Value("resume")
	resume := (v == "true" || v == "1") && c.srv.opts.ResumeTimeout > 0
	srv := c.srv
	srv.mu.Lock()
	s.mu.Lock()
	if s.smOn {
		s.mu.Unlock()
		srv.mu.Unlock()
		return c.smFailed(stanza.UnexpectedRequest, "stream management is enabled already")
	}
	s.smOn = true
	buf := []byte("<enabled xmlns='" + NSSM + "'")
	if resume {
		s.resumeID = newID(16)
		srv.resumable[s.resumeID] = s
		buf = append(buf, " id='"+s.resumeID+"' resume='true' max='"...)
		buf = strconv.AppendInt(buf, int64(srv.opts.ResumeTimeout/time.Second), 10)
		buf = append(buf, '\'')
	}
	buf = append(buf, "/>"...)
	// Under the session's lock, so that the count of stanzas delivered
	// starts exactly after <enabled/>.
	c.w.add(buf)
	start := srv.appendStart(nil, s.user, startInfo{sid: s.sid, jid: s.jid, remote: s.remote,
		fingerprint: s.fingerprint, sm: true, inactive: s.inactive})
	s.mu.Unlock()
	srv.mu.Unlock()
	if !c.w.flushOwn() {
		return &closeCause{reason: reasonWriteError}
	}
	// Tells sm the client acknowledges what it receives (session-protocol
	// §2: a second start with the same sid is an update).
	if err := srv.send(start); err != nil {
		return &closeCause{reason: reasonShutdown}
	}
	return nil
}

// ackRequest answers the client's <r/>, at once when every stanza it sent
// is handled, else as soon as sm confirms them (session.answerAckLocked).
func (c *conn) ackRequest() *closeCause {
	s := c.sess
	s.mu.Lock()
	if !s.smOn {
		s.mu.Unlock()
		return nil
	}
	if h := s.inboundH(); h == s.in198 {
		c.w.add(appendA(nil, h))
	} else {
		s.ackWant = true
		s.ackAt = s.in198
	}
	s.mu.Unlock()
	if !c.w.flushOwn() {
		return &closeCause{reason: reasonWriteError}
	}
	return nil
}

// clientAck handles the client's <a h/>: the stored stanzas it covers are
// acknowledged to sm.
func (c *conn) clientAck(top *xml.Top) *closeCause {
	h, err := strconv.ParseUint(top.Value("h"), 10, 32)
	if err != nil {
		return fail(stream.BadFormat, "<a/> without a valid h")
	}
	s := c.sess
	s.mu.Lock()
	rids, ok := s.ackLocked(uint32(h))
	sent := s.out198
	s.mu.Unlock()
	if !ok {
		return fail(stream.UndefinedCondition, "handled-count-too-high: acknowledged "+strconv.FormatUint(h, 10)+
			" stanzas, "+strconv.FormatUint(uint64(sent), 10)+" were sent")
	}
	return c.ackToSM(rids)
}

// ackToSM tells sm the client acknowledged the stored stanzas rids.
func (c *conn) ackToSM(rids []string) *closeCause {
	if len(rids) == 0 {
		return nil
	}
	c.srv.m.acks.Add(float64(len(rids)))
	if err := c.srv.send(c.srv.appendAck(nil, c.sess.user, c.sess.sid, rids)); err != nil {
		return &closeCause{reason: reasonShutdown}
	}
	return nil
}

// resume attaches this connection to a detached (or still attached)
// resumable session of the same user, and sends again what the client
// did not acknowledge.
func (c *conn) resume(top *xml.Top) *closeCause {
	previd := top.Value("previd")
	h, err := strconv.ParseUint(top.Value("h"), 10, 32)
	if err != nil || previd == "" {
		return c.smFailed(stanza.BadRequest, "resume needs previd and h")
	}
	sess, old := c.srv.takeOver(previd, c.verified.localpart, c)
	if sess == nil {
		c.srv.m.resumptions.WithLabelValues("unknown").Inc()
		return c.smFailed(stanza.ItemNotFound, "no session to resume")
	}
	if old != nil {
		old.kill(reasonConflict, &stream.Error{Condition: stream.Conflict, Text: "the session was resumed on another connection"})
	}
	sess.mu.Lock()
	rids, ok := sess.ackLocked(uint32(h))
	if !ok {
		sess.mu.Unlock()
		c.sess = sess
		return fail(stream.UndefinedCondition, "handled-count-too-high")
	}
	buf := []byte("<resumed xmlns='" + NSSM + "' previd='")
	buf = xml.AppendEscapedAttr(buf, previd, '\'')
	buf = append(buf, "' h='"...)
	buf = strconv.AppendUint(buf, uint64(sess.inboundH()), 10)
	buf = append(buf, "'/>"...)
	for _, it := range sess.outq {
		buf = append(buf, it.raw...)
	}
	sess.requested = len(sess.outq) > 0
	if sess.requested {
		buf = append(buf, "<r xmlns='"+NSSM+"'/>"...)
	}
	sess.inactive = false
	c.w.add(buf)
	sess.mu.Unlock()

	c.sess = sess
	c.phase = phaseSession
	c.lastRead = time.Now()
	c.mu.Lock()
	c.bound = sess.jid
	c.mu.Unlock()
	c.srv.m.resumptions.WithLabelValues("resumed").Inc()
	if !c.w.flushOwn() {
		return &closeCause{reason: reasonWriteError}
	}
	if cause := c.ackToSM(rids); cause != nil {
		return cause
	}
	if err := c.srv.send(c.srv.appendState(nil, sess.user, sess.sid, false)); err != nil {
		return &closeCause{reason: reasonShutdown}
	}
	return nil
}

// takeOver finds the resumable session previd of the user and attaches c
// to it; it returns the session and the connection it had, if any.
func (s *Server) takeOver(previd, localpart string, c *conn) (*session, *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.resumable[previd]
	if sess == nil {
		return nil, nil
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.state != sessActive || sess.localpart != localpart {
		return nil, nil
	}
	old := sess.conn
	sess.conn = c
	if sess.detached != nil && sess.detached.Stop() {
		s.wg.Done()
	}
	sess.detached = nil
	return sess, old
}
