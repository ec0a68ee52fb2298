package server

import (
	"bytes"
	"time"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// handleSession handles what a bound client sends: stanzas go to sm,
// except the few c2s answers itself; XEP-0198 and XEP-0352 nonzas are
// handled here.
func (c *conn) handleSession(top *xml.Top) *closeCause {
	ns := top.Value("xmlns")
	switch {
	case top.Is("message") || top.Is("presence") || top.Is("iq"):
		if local, cause := c.localStanza(top); local {
			c.countLocal()
			return cause
		}
		return c.forward(top)
	case ns == NSSM:
		return c.handleSM(top)
	case ns == NSCSI:
		return c.handleCSI(top)
	}
	return fail(stream.UnsupportedStanzaType, "<"+string(top.Name())+"/> is not a stanza")
}

// localStanza answers the stanzas c2s handles itself: the answer to its
// own ping, a second bind, the RFC 3921 session request, and stanzas that
// cannot be forwarded as they are.
func (c *conn) localStanza(top *xml.Top) (bool, *closeCause) {
	if top.StreamPrefix {
		if stanza.Bounceable(top) {
			return true, c.iqError(top, &stanza.Error{Condition: stanza.BadRequest, Text: "the stanza uses a namespace prefix declared on the stream header"})
		}
		return true, nil
	}
	if !top.Is("iq") {
		return false, nil
	}
	typ, _ := top.Attr("type")
	if c.pingID != "" && (string(typ) == "result" || string(typ) == "error") && top.Value("id") == c.pingID {
		c.pingID = ""
		return true, nil
	}
	if string(typ) != "set" {
		return false, nil
	}
	inner := top.Inner()
	if !bytes.Contains(inner, []byte(NSBind)) && !bytes.Contains(inner, []byte(NSSession)) {
		return false, nil
	}
	el, err := xml.Parse(top.Raw, c.r.Header().Scope)
	if err != nil {
		return false, nil
	}
	switch {
	case el.Child("bind", NSBind) != nil:
		return true, c.iqError(top, &stanza.Error{Condition: stanza.NotAllowed, Text: "a resource is bound already"})
	case el.Child("session", NSSession) != nil:
		return true, c.iqResult(top)
	}
	return false, nil
}

// countLocal counts a stanza c2s handled itself for XEP-0198.
func (c *conn) countLocal() {
	s := c.sess
	s.mu.Lock()
	if s.smOn {
		s.in198++
		s.answerAckLocked()
	}
	s.mu.Unlock()
}

// forward sends a client stanza to sm. While the session has as many
// stanzas as allowed waiting for sm's confirmation, the client is not
// read: a client cannot make c2s hold more than that, and nothing it
// sends is acknowledged before sm has it.
func (c *conn) forward(top *xml.Top) *closeCause {
	s := c.sess
	max := c.srv.opts.MaxUnconfirmed
	counted := false
	err := c.wait(0, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.windowWait = len(s.unconfirmed) >= max
		if s.windowWait && !counted {
			counted = true
			c.srv.m.windowFull.Inc()
		}
		return !s.windowWait
	})
	if err != nil {
		return c.closeCause()
	}
	s.mu.Lock()
	s.seq++
	var idx uint32
	if s.smOn {
		s.in198++
		idx = s.in198
	}
	raw := c.srv.appendStanza(nil, s.user, s.sid, s.seq, top, s.jid, c.lang)
	s.unconfirmed = append(s.unconfirmed, inflight{seq: s.seq, idx: idx, sent: time.Now(), raw: raw})
	s.mu.Unlock()
	if err := c.srv.send(raw); err != nil {
		return &closeCause{reason: reasonShutdown, serr: &stream.Error{Condition: stream.SystemShutdown, Text: "the server is stopping"}}
	}
	return nil
}
