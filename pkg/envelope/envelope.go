package envelope

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

// NS is the namespace of the <session/> element.
const NS = "http://kontalk.org/protocol/session"

// Actions. A stanza envelope (seq), a confirmation (handled) and a
// delivery (rid, or none) have no action.
const (
	ActionStart      = "start"
	ActionStarted    = "started"
	ActionFailed     = "failed"
	ActionEnd        = "end"
	ActionAck        = "ack"
	ActionState      = "state"
	ActionRegister   = "register"
	ActionAuth       = "auth"
	ActionAuthorized = "authorized"
	// ActionRedeliver is sent between sm instances only: the sweep asks
	// the instance that owns a user to deliver again what the session
	// left unacknowledged.
	ActionRedeliver = "redeliver"
)

// Account actions: an operator's tool (kontalkctl, connected to the
// router with the server's secret as a component of the host) asks the
// instance that owns a user to delete the account; sm answers deleted,
// or failed with the error.
const (
	ActionDelete  = "delete"
	ActionDeleted = "deleted"
)

// Envelope is one session protocol message. Fields not used by an action
// are zero.
type Envelope struct {
	// From and To address the outer message: a c2s or sm instance, a
	// user's bare JID on a host, or a host.
	From, To string

	Action string
	SID    string
	// Seq numbers a client stanza; Handled confirms those up to it.
	Seq, Handled uint64
	// RID names an inbox entry delivered to the client.
	RID string
	// JID is the session's full JID (start, started) or the user's bare
	// JID (auth).
	JID         string
	Remote      string
	Fingerprint string
	// SM: the client enabled XEP-0198.
	SM bool
	// CSI is the client state: "0"/"1" at start, "active"/"inactive"
	// with action state.
	CSI string
	// Reason of an end from sm (conflict, system-shutdown, ...).
	Reason string
	// Unacked counts stanzas c2s delivered that the client never
	// acknowledged (end from c2s).
	Unacked int
	// Conn names a connection before authentication (register, auth).
	Conn string
	// Cert is the client's bridge certificate, base64 (register).
	Cert string
	// Created is the key's creation time, unix seconds (auth).
	Created int64
	// RIDs are the inbox entries the client acknowledged (ack).
	RIDs []string
	// Key is the user's public key ring (auth).
	Key []byte
	// Error says why (failed).
	Error *stanza.Error
	// Stanza is the enveloped stanza, its bytes as they were sent.
	Stanza *xml.Top
}

// ErrNotEnvelope is returned by Parse for a message that is not an
// envelope.
var ErrNotEnvelope = errors.New("envelope: not a session envelope")

// IsEnvelope reports whether top looks like an envelope: a message with
// no type whose content starts with a <session element. Parse decides.
func IsEnvelope(top *xml.Top) bool {
	if !top.Is("message") || top.Has("type") {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(top.Inner(), " \t\r\n"), []byte("<session"))
}

// Parse reads an envelope from the message top. It returns
// ErrNotEnvelope when top is not one, or an error saying what is
// malformed. The Stanza of the result shares top's bytes.
func Parse(top *xml.Top) (*Envelope, error) {
	if !IsEnvelope(top) {
		return nil, ErrNotEnvelope
	}
	sess, err := xml.ParseTop(top.Inner(), xml.Scope{Default: stream.NSComponent})
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if !sess.Is("session") || sess.Value("xmlns") != NS {
		return nil, ErrNotEnvelope
	}
	e := &Envelope{
		From:        top.Value("from"),
		To:          top.Value("to"),
		Action:      sess.Value("action"),
		SID:         sess.Value("sid"),
		RID:         sess.Value("rid"),
		JID:         sess.Value("jid"),
		Remote:      sess.Value("remote"),
		Fingerprint: sess.Value("fingerprint"),
		CSI:         sess.Value("csi"),
		Reason:      sess.Value("reason"),
		Conn:        sess.Value("conn"),
		Cert:        sess.Value("cert"),
		SM:          isTrue(sess.Value("sm")),
	}
	if e.Seq, err = uintAttr(sess, "seq"); err != nil {
		return nil, err
	}
	if e.Handled, err = uintAttr(sess, "handled"); err != nil {
		return nil, err
	}
	unacked, err := uintAttr(sess, "unacked")
	if err != nil {
		return nil, err
	}
	e.Unacked = int(min(unacked, 1<<31-1))
	created, err := uintAttr(sess, "created")
	if err != nil {
		return nil, err
	}
	e.Created = int64(min(created, 1<<62))
	if sess.SelfClosing() {
		return e, nil
	}
	switch e.Action {
	case ActionAck, ActionAuth, ActionFailed:
		return e, e.parseChildren(sess)
	}
	inner := bytes.TrimSpace(sess.Inner())
	if len(inner) == 0 {
		return e, nil
	}
	st, err := xml.ParseTop(inner, xml.Scope{Default: stream.NSClient})
	if err != nil {
		return nil, fmt.Errorf("envelope: enveloped stanza: %w", err)
	}
	e.Stanza = st
	return e, nil
}

// parseChildren reads the rids of an ack, the key of an auth, the error
// of a failed.
func (e *Envelope) parseChildren(sess *xml.Top) error {
	el, err := xml.Parse(sess.Raw, xml.Scope{Default: stream.NSComponent})
	if err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	switch e.Action {
	case ActionAck:
		for rid := range el.ChildrenNamed("rid", NS) {
			e.RIDs = append(e.RIDs, rid.Text())
		}
	case ActionAuth:
		if k := el.Child("key", NS); k != nil {
			key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace([]byte(k.Text()))))
			if err != nil {
				return fmt.Errorf("envelope: auth key: %w", err)
			}
			e.Key = key
		}
	case ActionFailed:
		e.Error = stanza.ParseError(el)
	}
	return nil
}

func uintAttr(t *xml.Top, name string) (uint64, error) {
	v, ok := t.Attr(name)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("envelope: %s=%q is not a count", name, v)
	}
	return n, nil
}

func isTrue(s string) bool { return s == "1" || s == "true" }

// Append appends e as a message from e.From to e.To.
func Append(dst []byte, e *Envelope) []byte {
	dst = append(dst, "<message"...)
	dst = attr(dst, "from", e.From)
	dst = attr(dst, "to", e.To)
	dst = append(dst, "><session xmlns='"+NS+"'"...)
	dst = attr(dst, "action", e.Action)
	dst = attr(dst, "sid", e.SID)
	if e.Seq > 0 {
		dst = attr(dst, "seq", strconv.FormatUint(e.Seq, 10))
	}
	if e.Handled > 0 {
		dst = attr(dst, "handled", strconv.FormatUint(e.Handled, 10))
	}
	dst = attr(dst, "rid", e.RID)
	dst = attr(dst, "jid", e.JID)
	dst = attr(dst, "remote", e.Remote)
	dst = attr(dst, "fingerprint", e.Fingerprint)
	if e.SM {
		dst = attr(dst, "sm", "1")
	}
	dst = attr(dst, "csi", e.CSI)
	dst = attr(dst, "reason", e.Reason)
	if e.Unacked > 0 {
		dst = attr(dst, "unacked", strconv.Itoa(e.Unacked))
	}
	dst = attr(dst, "conn", e.Conn)
	dst = attr(dst, "cert", e.Cert)
	if e.Created > 0 {
		dst = attr(dst, "created", strconv.FormatInt(e.Created, 10))
	}
	if len(e.RIDs) == 0 && e.Key == nil && e.Error == nil && e.Stanza == nil {
		return append(dst, "/></message>"...)
	}
	dst = append(dst, '>')
	for _, rid := range e.RIDs {
		dst = append(dst, "<rid>"...)
		dst = xml.AppendEscapedText(dst, rid)
		dst = append(dst, "</rid>"...)
	}
	if e.Key != nil {
		dst = append(dst, "<key>"...)
		dst = base64.StdEncoding.AppendEncode(dst, e.Key)
		dst = append(dst, "</key>"...)
	}
	if e.Error != nil {
		dst = e.Error.AppendXML(dst)
	}
	if e.Stanza != nil {
		dst = append(dst, e.Stanza.Raw...)
	}
	return append(dst, "</session></message>"...)
}

// AppendDelivery appends a delivery of the stanza raw to a session
// without building an Envelope: the hot path of sm.
func AppendDelivery(dst []byte, from, c2s, sid, rid string, raw []byte) []byte {
	dst = append(dst, "<message"...)
	dst = attr(dst, "from", from)
	dst = attr(dst, "to", c2s)
	dst = append(dst, "><session xmlns='"+NS+"'"...)
	dst = attr(dst, "sid", sid)
	dst = attr(dst, "rid", rid)
	dst = append(dst, '>')
	dst = append(dst, raw...)
	return append(dst, "</session></message>"...)
}

func attr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = xml.AppendEscapedAttr(dst, value, '\'')
	return append(dst, '\'')
}
