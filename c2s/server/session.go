package server

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// sessState is where a session stands with sm.
type sessState uint8

const (
	sessStarting sessState = iota // start sent, waiting for started
	sessActive
	sessFailed // sm refused the start, or did not answer
	sessEnded
)

// inflight is a client stanza sent to sm and not confirmed yet.
type inflight struct {
	seq  uint64
	idx  uint32 // its XEP-0198 number; 0 when received before enable
	sent time.Time
	raw  []byte // the envelope, to send again
}

// outItem is a stanza delivered to the client that it has not
// acknowledged (XEP-0198).
type outItem struct {
	idx uint32 // XEP-0198 outbound number
	rid string // inbox id, acknowledged to sm once the client acks
	raw []byte // kept only when the session can be resumed
}

// session is a bound resource and its state at c2s: the XEP-0198 counts
// both ways, client stanzas not yet confirmed by sm, stored stanzas not
// yet acknowledged by the client, and the CSI queue. Everything below mu
// is guarded by it.
type session struct {
	srv         *Server
	sid         string
	jid         string // full JID localpart@N/resource
	localpart   string
	user        string // localpart@H: where its envelopes go
	remote      string
	fingerprint string

	mu     sync.Mutex
	state  sessState
	conn   *conn // nil while detached, waiting for resumption
	sm     string
	bindID string // the bind IQ to answer once started
	err    *stanza.Error

	seq         uint64 // client stanzas sent to sm
	unconfirmed []inflight
	windowWait  bool // the connection waits for room in unconfirmed

	smOn       bool   // XEP-0198 enabled
	resumeID   string // set when resumable
	in198      uint32 // client stanzas received since enable
	ackWant    bool   // the client asked for an <a/> ...
	ackAt      uint32 // ... covering this many stanzas
	out198     uint32 // stanzas delivered since enable
	acked      uint32 // the client's last h
	delivered  uint64 // stanzas delivered in all
	ackedTotal uint64 // of which the client acknowledged
	outq       []outItem
	outqBytes  int
	requested  bool // our <r/> is unanswered

	// restart asks the resend loop to send the start again: an envelope
	// of this session was bounced, so sm may not know it.
	restart bool

	inactive bool // XEP-0352
	csiq     []csiItem
	detached *time.Timer
}

// smInstance returns the sm instance that last answered the session.
func (s *session) smInstance() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sm
}

func (s *session) smEnabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.smOn
}

// fromSM handles an envelope about this session, on the router's goroutine.
func (s *session) fromSM(e *envelope) {
	switch e.action {
	case actionStarted:
		s.started(e.from)
	case actionFailed:
		s.startFailed(e.err)
	case actionEnd:
		s.srv.endedBySM(s, e.reason)
	case "":
		if e.hasHandled {
			s.confirm(e.handled, e.from)
		}
		if len(e.payload) > 0 {
			s.deliver(e.payload, e.rid)
		}
	default:
		s.srv.m.envelopesDropped.WithLabelValues("unknown-action").Inc()
	}
}

// started completes the bind: its result is written here, on the
// router's goroutine, so that it precedes whatever sm delivers next.
func (s *session) started(from string) {
	s.mu.Lock()
	s.sm = from
	if s.state != sessStarting {
		s.mu.Unlock()
		return // the answer to a start sent again
	}
	s.state = sessActive
	c := s.conn
	buf := []byte("<iq type='result' id='")
	buf = xml.AppendEscapedAttr(buf, s.bindID, '\'')
	buf = append(buf, "'><bind xmlns='"+NSBind+"'><jid>"...)
	buf = xml.AppendEscapedText(buf, s.jid)
	buf = append(buf, "</jid></bind></iq>"...)
	c.w.push(buf)
	s.mu.Unlock()
	c.poke()
}

// startFailed records sm's refusal of a start; for a session already
// started, it marks the session to be started again (an envelope was
// bounced).
func (s *session) startFailed(e *stanza.Error) {
	s.mu.Lock()
	if s.state == sessActive {
		s.restart = true
	}
	if s.state != sessStarting {
		s.mu.Unlock()
		return
	}
	s.state = sessFailed
	s.err = e
	c := s.conn
	s.mu.Unlock()
	c.poke()
}

// inboundH is the XEP-0198 h of client stanzas: every stanza before the
// first one sm has not confirmed is handled. mu is held.
func (s *session) inboundH() uint32 {
	for i := range s.unconfirmed {
		if idx := s.unconfirmed[i].idx; idx != 0 {
			return idx - 1
		}
	}
	return s.in198
}

// answerAckLocked writes the <a/> the client asked for once the stanzas
// it covers are handled. mu is held; the write is pushed, not done here.
func (s *session) answerAckLocked() {
	if !s.ackWant || s.conn == nil {
		return
	}
	h := s.inboundH()
	if int32(h-s.ackAt) < 0 {
		return
	}
	s.ackWant = false
	s.conn.w.push(appendA(nil, h))
}

func appendA(dst []byte, h uint32) []byte {
	dst = append(dst, "<a xmlns='"+NSSM+"' h='"...)
	dst = strconv.AppendUint(dst, uint64(h), 10)
	return append(dst, "'/>"...)
}

// confirm handles sm's handled='n': client stanzas up to seq n are done.
func (s *session) confirm(n uint64, from string) {
	s.mu.Lock()
	if from != "" {
		s.sm = from
	}
	i := 0
	for i < len(s.unconfirmed) && s.unconfirmed[i].seq <= n {
		s.unconfirmed[i].raw = nil
		i++
	}
	if i == len(s.unconfirmed) {
		s.unconfirmed = nil
	} else {
		s.unconfirmed = s.unconfirmed[i:]
	}
	s.answerAckLocked()
	c := s.conn
	wake := s.windowWait && len(s.unconfirmed) < s.srv.opts.MaxUnconfirmed
	s.mu.Unlock()
	if wake && c != nil {
		c.poke()
	}
}

// deliver writes a stanza from sm to the client (or keeps it for a
// resumption), applying CSI.
func (s *session) deliver(payload []byte, rid string) {
	top, err := payloadTop(payload)
	if err != nil {
		s.srv.m.envelopesDropped.WithLabelValues("malformed").Inc()
		s.srv.log.Warn("sm delivered something that is not a stanza", zap.String("sid", s.sid), zap.Error(err))
		return
	}
	s.mu.Lock()
	if s.state != sessActive {
		s.mu.Unlock()
		s.srv.m.envelopesDropped.WithLabelValues("session-not-active").Inc()
		return
	}
	if s.inactive && s.conn != nil && rid == "" && queueablePresence(top) {
		s.queueCSILocked(top.Value("from"), payload)
		s.mu.Unlock()
		return
	}
	if len(s.csiq) > 0 {
		s.flushCSILocked()
	}
	over := s.emitLocked(payload, rid)
	s.mu.Unlock()
	if over {
		s.srv.m.resumptions.WithLabelValues("overflow").Inc()
		s.srv.expire(s)
	}
}

// emitLocked writes a stanza to the client and counts it. While detached
// it is kept for the resumption; over reports that the kept stanzas
// outgrew the bound, and the session must end. mu is held.
func (s *session) emitLocked(raw []byte, rid string) (over bool) {
	s.delivered++
	c := s.conn
	if s.smOn {
		s.out198++
		if rid != "" || s.resumeID != "" {
			it := outItem{idx: s.out198, rid: rid}
			if s.resumeID != "" {
				it.raw = bytes.Clone(raw)
				s.outqBytes += len(raw)
			}
			s.outq = append(s.outq, it)
		}
	}
	if c == nil {
		return s.outqBytes > s.srv.opts.MaxQueue
	}
	buf := raw
	if s.smOn && rid != "" && !s.requested {
		// A stored stanza: ask for the acknowledgement that lets sm
		// remove it from the inbox.
		s.requested = true
		buf = append(bytes.Clone(raw), "<r xmlns='"+NSSM+"'/>"...)
	}
	if !c.w.push(buf) {
		c.kill(reasonSlowConsumer, &stream.Error{Condition: stream.PolicyViolation, Text: "slow consumer: the client does not read what it is sent"})
		return false
	}
	c.out.Add(1)
	return false
}

// ackLocked handles the client's <a h='h'/>: the stored stanzas it covers
// are returned for sm to remove. mu is held.
func (s *session) ackLocked(h uint32) ([]string, bool) {
	if !s.smOn {
		return nil, true
	}
	newly := h - s.acked
	if newly > s.out198-s.acked {
		return nil, false // more than was sent
	}
	s.acked = h
	s.ackedTotal += uint64(newly)
	s.requested = false
	var rids []string
	i := 0
	for i < len(s.outq) && int32(h-s.outq[i].idx) >= 0 {
		if s.outq[i].rid != "" {
			rids = append(rids, s.outq[i].rid)
		}
		s.outqBytes -= len(s.outq[i].raw)
		i++
	}
	if i == len(s.outq) {
		s.outq = nil
	} else {
		s.outq = s.outq[i:]
	}
	return rids, true
}

// pendingEnvelopes returns the envelopes to send sm again: the client
// stanzas unconfirmed since before 'before' (all when zero), preceded by
// the session's start when restart is set or an envelope was bounced.
func (s *session) pendingEnvelopes(restart bool, before time.Time) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != sessActive {
		return nil
	}
	var out [][]byte
	if restart || s.restart {
		s.restart = false
		out = append(out, s.srv.appendStart(nil, s.user, startInfo{sid: s.sid, jid: s.jid, remote: s.remote,
			fingerprint: s.fingerprint, sm: s.smOn, inactive: s.inactive || s.conn == nil}))
	}
	now := time.Now()
	for i := range s.unconfirmed {
		if before.IsZero() || s.unconfirmed[i].sent.Before(before) {
			out = append(out, s.unconfirmed[i].raw)
			s.unconfirmed[i].sent = now
		}
	}
	return out
}

// unacked counts the stanzas delivered that the client never
// acknowledged. mu is held.
func (s *session) unackedLocked() uint64 { return s.delivered - s.ackedTotal }

// addSession registers a starting session. A session with the same full
// JID on this instance is replaced: it is returned, ended, for the caller
// to close and end at sm.
func (s *Server) addSession(sess *session) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.byJID[sess.jid]
	if old != nil {
		old.mu.Lock()
		s.removeLocked(old)
		old.mu.Unlock()
	}
	s.sessions[sess.sid] = sess
	s.byJID[sess.jid] = sess
	s.m.sessions.Inc()
	return old
}

// removeLocked ends sess and takes it out of the maps; Server.mu and
// sess.mu are held.
func (s *Server) removeLocked(sess *session) {
	if sess.state == sessEnded {
		return
	}
	sess.state = sessEnded
	if s.sessions[sess.sid] == sess {
		delete(s.sessions, sess.sid)
		s.m.sessions.Dec()
	}
	if s.byJID[sess.jid] == sess {
		delete(s.byJID, sess.jid)
	}
	if sess.resumeID != "" && s.resumable[sess.resumeID] == sess {
		delete(s.resumable, sess.resumeID)
	}
	if sess.detached != nil && sess.detached.Stop() {
		s.wg.Done()
	}
	sess.detached = nil
}

// remove ends a session without telling sm (it refused or ended it).
func (s *Server) remove(sess *session) {
	s.mu.Lock()
	sess.mu.Lock()
	s.removeLocked(sess)
	sess.mu.Unlock()
	s.mu.Unlock()
}

// end ends a session and tells sm, with the count of stanzas the client
// did not acknowledge.
func (s *Server) end(sess *session) {
	s.mu.Lock()
	sess.mu.Lock()
	if sess.state == sessEnded {
		sess.mu.Unlock()
		s.mu.Unlock()
		return
	}
	s.removeLocked(sess)
	unacked := sess.unackedLocked()
	sess.mu.Unlock()
	s.mu.Unlock()
	s.send(s.appendEnd(nil, sess.user, sess.sid, unacked))
}

// resumableReasons are the ways of losing a connection after which a
// resumable session waits for the client to come back.
var resumableReasons = map[string]bool{reasonLost: true, reasonTimeout: true, reasonWriteError: true, reasonSlowConsumer: true}

// detachOrEnd handles the session of a connection that closed: a
// resumable session that lost its connection waits for the client;
// otherwise it ends.
func (s *Server) detachOrEnd(sess *session, c *conn, reason string) {
	s.mu.Lock()
	sess.mu.Lock()
	if sess.conn != c || sess.state == sessEnded {
		// Resumed elsewhere, replaced, or ended by sm.
		sess.mu.Unlock()
		s.mu.Unlock()
		return
	}
	if sess.resumeID != "" && sess.state == sessActive && resumableReasons[reason] && !s.draining {
		sess.conn = nil
		sess.csiq = nil
		s.wg.Add(1)
		sess.detached = time.AfterFunc(s.opts.ResumeTimeout, func() {
			defer s.wg.Done()
			s.expire(sess)
		})
		notify := !sess.inactive
		sess.mu.Unlock()
		s.mu.Unlock()
		s.m.resumptions.WithLabelValues("detached").Inc()
		if notify {
			// Nobody reads this session now: for sm's push trigger it is
			// as inactive as a client in the background.
			s.send(s.appendState(nil, sess.user, sess.sid, true))
		}
		return
	}
	sess.mu.Unlock()
	s.mu.Unlock()
	s.end(sess)
}

// expire ends a detached session that was not resumed in time (or whose
// kept stanzas outgrew the bound).
func (s *Server) expire(sess *session) {
	s.mu.Lock()
	sess.mu.Lock()
	gone := sess.conn != nil || sess.state == sessEnded
	if !gone {
		sess.detached = nil // firing or fired: nothing to stop
	}
	sess.mu.Unlock()
	s.mu.Unlock()
	if !gone {
		s.m.resumptions.WithLabelValues("expired").Inc()
		s.end(sess)
	}
}

// endDetached ends every detached session (shutdown).
func (s *Server) endDetached() {
	s.mu.Lock()
	var list []*session
	for _, sess := range s.sessions {
		sess.mu.Lock()
		if sess.conn == nil && sess.state == sessActive {
			list = append(list, sess)
		}
		sess.mu.Unlock()
	}
	s.mu.Unlock()
	for _, sess := range list {
		s.end(sess)
	}
}

// endedBySM closes the stream of a session sm ended; c2s answers nothing.
func (s *Server) endedBySM(sess *session, reason string) {
	s.mu.Lock()
	sess.mu.Lock()
	if sess.state == sessEnded {
		sess.mu.Unlock()
		s.mu.Unlock()
		return
	}
	starting := sess.state == sessStarting
	s.removeLocked(sess)
	if starting {
		sess.state = sessFailed
		sess.err = &stanza.Error{Condition: stanza.Conflict, Text: "ended by the session manager: " + reason}
	}
	c := sess.conn
	sess.mu.Unlock()
	s.mu.Unlock()
	if c == nil {
		return
	}
	if starting {
		c.poke()
		return
	}
	why := reasonSessionEnded
	serr := smEndError(reason)
	if serr.Condition == stream.Conflict {
		why = reasonConflict
	}
	c.kill(why, serr)
}

// smEndError is the stream error for a session sm ended with reason.
func smEndError(reason string) *stream.Error {
	switch stream.Condition(reason) {
	case stream.Conflict:
		return &stream.Error{Condition: stream.Conflict, Text: "replaced by a new session for the same resource"}
	case stream.PolicyViolation, stream.SystemShutdown, stream.NotAuthorized, stream.ResourceConstraint, stream.UndefinedCondition:
		return &stream.Error{Condition: stream.Condition(reason), Text: "session ended by the server"}
	case "account-deleted":
		return &stream.Error{Condition: stream.NotAuthorized, Text: "the account was deleted"}
	}
	return &stream.Error{Condition: stream.UndefinedCondition, Text: "session ended: " + reason}
}
