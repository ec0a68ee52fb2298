package server

import (
	"bytes"

	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// XEP-0352 client state indication. While the client says it is
// inactive, availability presences for it wait here, only the latest per
// sender; they are written as soon as anything else is, or when the
// client becomes active again. sm is told the state, for its push
// trigger.

// maxCSIQueue bounds the presences kept for an inactive client; past it
// they are written.
const maxCSIQueue = 256

// csiItem is a presence waiting for an inactive client.
type csiItem struct {
	from string
	raw  []byte
}

// queueablePresence reports whether a stanza may wait for an inactive
// client: an availability presence (subscriptions and errors may not).
func queueablePresence(top *xml.Top) bool {
	if !top.Is("presence") {
		return false
	}
	t := top.Value("type")
	return t == "" || t == "unavailable"
}

// queueCSILocked keeps the latest presence from 'from'. mu is held.
func (s *session) queueCSILocked(from string, raw []byte) {
	for i := range s.csiq {
		if s.csiq[i].from == from {
			s.csiq = append(s.csiq[:i], s.csiq[i+1:]...)
			break
		}
	}
	s.csiq = append(s.csiq, csiItem{from: from, raw: bytes.Clone(raw)})
	s.srv.m.csiQueued.Inc()
	if len(s.csiq) > maxCSIQueue {
		s.flushCSILocked()
	}
}

// flushCSILocked writes the queued presences in order. mu is held.
func (s *session) flushCSILocked() {
	q := s.csiq
	s.csiq = nil
	for _, it := range q {
		s.emitLocked(it.raw, "")
	}
}

// handleCSI handles <active/> and <inactive/>.
func (c *conn) handleCSI(top *xml.Top) *closeCause {
	inactive := top.Is("inactive")
	if !inactive && !top.Is("active") {
		return fail(stream.UnsupportedStanzaType, "<"+string(top.Name())+"/> is not an XEP-0352 element")
	}
	s := c.sess
	s.mu.Lock()
	changed := s.inactive != inactive
	s.inactive = inactive
	if !inactive {
		s.flushCSILocked()
	}
	s.mu.Unlock()
	if !changed {
		return nil
	}
	if err := c.srv.send(c.srv.appendState(nil, s.user, s.sid, inactive)); err != nil {
		return &closeCause{reason: reasonShutdown}
	}
	return nil
}
