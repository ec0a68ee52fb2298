package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// NSEnvelope is the namespace of the session envelopes between c2s and sm
// (docs/session-protocol.md).
const NSEnvelope = "http://kontalk.org/protocol/session"

// Envelope actions.
const (
	actionStart      = "start"
	actionStarted    = "started"
	actionFailed     = "failed"
	actionEnd        = "end"
	actionAck        = "ack"
	actionState      = "state"
	actionRegister   = "register"
	actionAuth       = "auth"
	actionAuthorized = "authorized"
)

// componentScope is the namespace context of what the router delivers.
var componentScope = xml.Scope{Default: stream.NSComponent}

// envelopeHead appends the start of an envelope from this instance to
// 'to' up to the session element's attributes.
func (s *Server) envelopeHead(dst []byte, to string) []byte {
	dst = append(dst, "<message from='"...)
	dst = xml.AppendEscapedAttr(dst, s.opts.Name, '\'')
	dst = append(dst, "' to='"...)
	dst = xml.AppendEscapedAttr(dst, to, '\'')
	return append(dst, "'><session xmlns='"+NSEnvelope+"'"...)
}

// appendAttr appends name='value', escaped, when value is not empty.
func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = xml.AppendEscapedAttr(dst, value, '\'')
	return append(dst, '\'')
}

const envelopeEmptyTail = "/></message>"
const envelopeTail = "</session></message>"

// startInfo is what a start envelope says about a session.
type startInfo struct {
	sid, jid, remote, fingerprint string
	sm, inactive                  bool
}

// appendStart appends the envelope that starts (or updates) a session.
func (s *Server) appendStart(dst []byte, user string, si startInfo) []byte {
	dst = s.envelopeHead(dst, user)
	dst = appendAttr(dst, "action", actionStart)
	dst = appendAttr(dst, "sid", si.sid)
	dst = appendAttr(dst, "jid", si.jid)
	dst = appendAttr(dst, "remote", si.remote)
	dst = appendAttr(dst, "fingerprint", si.fingerprint)
	dst = appendAttr(dst, "sm", boolDigit(si.sm))
	dst = appendAttr(dst, "csi", boolDigit(si.inactive))
	return append(dst, envelopeEmptyTail...)
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// appendEnd appends the envelope that ends a session.
func (s *Server) appendEnd(dst []byte, user, sid string, unacked uint64) []byte {
	dst = s.envelopeHead(dst, user)
	dst = appendAttr(dst, "action", actionEnd)
	dst = appendAttr(dst, "sid", sid)
	dst = appendAttr(dst, "unacked", strconv.FormatUint(unacked, 10))
	return append(dst, envelopeEmptyTail...)
}

// appendStanza appends the envelope carrying client stanza number seq.
// The stanza is the client's bytes with 'from' set to the session's full
// JID and, when it has none, the stream's xml:lang.
func (s *Server) appendStanza(dst []byte, user, sid string, seq uint64, top *xml.Top, from, lang string) []byte {
	dst = s.envelopeHead(dst, user)
	dst = appendAttr(dst, "sid", sid)
	dst = appendAttr(dst, "seq", strconv.FormatUint(seq, 10))
	dst = append(dst, '>')
	n := len(dst)
	dst = top.AppendWithAttr(dst, "from", from)
	if lang != "" && !top.Has("xml:lang") {
		// AppendWithAttr keeps the element name first: the language goes
		// right after it.
		at := n + 1 + len(top.Name())
		tail := append([]byte(nil), dst[at:]...)
		dst = appendAttr(dst[:at], "xml:lang", lang)
		dst = append(dst, tail...)
	}
	return append(dst, envelopeTail...)
}

// appendAck appends the envelope acknowledging delivered stanzas.
func (s *Server) appendAck(dst []byte, user, sid string, rids []string) []byte {
	dst = s.envelopeHead(dst, user)
	dst = appendAttr(dst, "sid", sid)
	dst = appendAttr(dst, "action", actionAck)
	dst = append(dst, '>')
	for _, rid := range rids {
		dst = append(dst, "<rid>"...)
		dst = xml.AppendEscapedText(dst, rid)
		dst = append(dst, "</rid>"...)
	}
	return append(dst, envelopeTail...)
}

// appendState appends the envelope telling sm the client's CSI state.
func (s *Server) appendState(dst []byte, user, sid string, inactive bool) []byte {
	dst = s.envelopeHead(dst, user)
	dst = appendAttr(dst, "sid", sid)
	dst = appendAttr(dst, "action", actionState)
	state := "active"
	if inactive {
		state = "inactive"
	}
	dst = appendAttr(dst, "csi", state)
	return append(dst, envelopeEmptyTail...)
}

// appendRegister appends the envelope carrying a registration request of
// an unauthenticated connection, addressed to the host.
func (s *Server) appendRegister(dst []byte, connID, remote string, cert, iq []byte) []byte {
	dst = s.envelopeHead(dst, s.opts.Host)
	dst = appendAttr(dst, "action", actionRegister)
	dst = appendAttr(dst, "conn", connID)
	dst = appendAttr(dst, "remote", remote)
	if len(cert) > 0 {
		dst = append(dst, " cert='"...)
		dst = base64.StdEncoding.AppendEncode(dst, cert)
		dst = append(dst, '\'')
	}
	dst = append(dst, '>')
	dst = append(dst, iq...)
	return append(dst, envelopeTail...)
}

// authInfo is what c2s proved about a client at SASL time.
type authInfo struct {
	connID, jid, remote, fingerprint string
	created                          int64 // the key's creation, Unix seconds
	ring                             []byte
}

// appendAuth appends the envelope asking sm whether a verified key may
// log in (the stored fingerprint check of client-protocol §2 step 4).
func (s *Server) appendAuth(dst []byte, user string, a authInfo) []byte {
	dst = s.envelopeHead(dst, user)
	dst = appendAttr(dst, "action", actionAuth)
	dst = appendAttr(dst, "conn", a.connID)
	dst = appendAttr(dst, "jid", a.jid)
	dst = appendAttr(dst, "remote", a.remote)
	dst = appendAttr(dst, "fingerprint", a.fingerprint)
	dst = appendAttr(dst, "created", strconv.FormatInt(a.created, 10))
	dst = append(dst, "><key>"...)
	dst = base64.StdEncoding.AppendEncode(dst, a.ring)
	dst = append(dst, "</key>"...)
	return append(dst, envelopeTail...)
}

// envelope is an envelope from sm, read from the router's message. Its
// byte slices point into the message and are valid while it is.
type envelope struct {
	from       string // the sm instance
	action     string
	sid        string
	conn       string
	reason     string
	rid        string
	handled    uint64
	hasHandled bool
	payload    []byte        // the stanza inside, as sm wrote it
	err        *stanza.Error // of a 'failed'
	bounce     bool          // made up from the router's error: sm was not reached
}

var errNotEnvelope = errors.New("not a session envelope")

// parseEnvelope reads an envelope from sm: a <message/> whose one child
// is <session/> in NSSession. The stanza inside is kept as bytes.
func parseEnvelope(top *xml.Top) (envelope, error) {
	var e envelope
	if !top.Is("message") {
		return e, errNotEnvelope
	}
	inner := bytes.TrimSpace(top.Inner())
	if len(inner) == 0 {
		return e, errNotEnvelope
	}
	sess, err := xml.ParseTop(inner, componentScope)
	if err != nil {
		return e, fmt.Errorf("envelope: %w", err)
	}
	if string(sess.Local()) != "session" || len(sess.Prefix()) != 0 || sess.Value("xmlns") != NSEnvelope {
		return e, errNotEnvelope
	}
	e.from = top.Value("from")
	e.action = sess.Value("action")
	e.sid = sess.Value("sid")
	e.conn = sess.Value("conn")
	e.reason = sess.Value("reason")
	e.rid = sess.Value("rid")
	if v, ok := sess.Attr("handled"); ok {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return e, fmt.Errorf("envelope: handled=%q: %w", v, err)
		}
		e.handled, e.hasHandled = n, true
	}
	e.payload = bytes.TrimSpace(sess.Inner())
	if e.action == actionFailed {
		if el, err := xml.Parse(sess.Raw, componentScope); err == nil {
			e.err = stanza.ParseError(el)
		}
		if e.err == nil {
			e.err = &stanza.Error{Condition: stanza.UndefinedCondition}
		}
		e.payload = nil
	}
	return e, nil
}

// payloadTop reads the stanza an envelope carries, checking that it is one
// element that can be written to a client as it is.
func payloadTop(payload []byte) (*xml.Top, error) {
	top, err := xml.ParseTop(payload, componentScope)
	if err != nil {
		return nil, fmt.Errorf("envelope payload: %w", err)
	}
	if !(top.Is("message") || top.Is("presence") || top.Is("iq")) {
		return nil, fmt.Errorf("envelope payload: <%s/> is not a stanza", top.Name())
	}
	return top, nil
}
