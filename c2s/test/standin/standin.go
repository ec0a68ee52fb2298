// Package standin is a stand-in session manager for c2s tests and load
// programs: a component (pkg/component) that speaks the sm side of the
// session protocol (docs/session-protocol.md) minimally. It answers auth
// (with the stored-fingerprint rule of client-protocol §2, step 4, in
// memory), start, stanzas (confirming each at once, then routing it
// between the sessions it knows, with an inbox id for chat messages),
// acks, state, end and registration, and ends the sessions of a c2s
// instance whose route disappears. Everything it receives is recorded as
// an Event, for tests to wait on.
package standin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// NS is the namespace of session envelopes.
const NS = "http://kontalk.org/protocol/session"

// Config says where the stand-in connects and which domains it serves.
type Config struct {
	Router, Secret string
	// Name is the instance name (sm-1.H); it binds Host and sm.Host with
	// multi, as sm does.
	Name    string
	Host    string // H
	Network string // N
	Log     *zap.Logger
}

// Event is one envelope received, flattened for tests.
type Event struct {
	Action string            // the envelope's action; "stanza" for client stanzas
	From   string            // the c2s instance
	Attrs  map[string]string // the session element's attributes
	Rids   []string          // of an ack
	Inner  *xml.Element      // the stanza or key inside, if any
}

// String shows an event briefly: action, attributes and the inner
// element's name and id.
func (e Event) String() string {
	s := e.Action + fmt.Sprint(e.Attrs)
	if len(e.Rids) > 0 {
		s += fmt.Sprint(e.Rids)
	}
	if e.Inner != nil {
		s += "<" + e.Inner.Local() + " id=" + e.Inner.Attr("id") + ">"
	}
	return s
}

// Session is a session the stand-in knows.
type Session struct {
	SID, JID, C2S string
	Handled       uint64
}

type keyRecord struct {
	fingerprint string
	created     int64
}

// SM is a running stand-in.
type SM struct {
	cfg    Config
	client *component.Client

	mu       sync.Mutex
	sessions map[string]*Session // by sid
	keys     map[string]keyRecord
	inbox    map[string]string // rid → sid it was delivered to
	events   []Event
	muted    bool
	notify   chan struct{}
}

// New returns a stand-in; Run connects it.
func New(cfg Config) (*SM, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	s := &SM{cfg: cfg, sessions: map[string]*Session{}, keys: map[string]keyRecord{},
		inbox: map[string]string{}, notify: make(chan struct{}, 1)}
	var err error
	s.client, err = component.New(component.Config{
		Addr:   cfg.Router,
		Name:   cfg.Name,
		Secret: cfg.Secret,
		Binds: []component.Bind{
			{Name: cfg.Host, Multi: true},
			{Name: "sm." + cfg.Host, Multi: true},
		},
		OnStanza:   s.onStanza,
		OnRoute:    s.onRoute,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		Log:        cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	return s, nil
}

// Run serves until ctx ends.
func (s *SM) Run(ctx context.Context) error { return s.client.Run(ctx) }

// Ready is closed once connected and bound.
func (s *SM) Ready() <-chan struct{} { return s.client.Ready() }

// Mute makes the stand-in record envelopes but answer none, as an sm that
// is stuck; Unmute answers what comes next.
func (s *SM) Mute(on bool) {
	s.mu.Lock()
	s.muted = on
	s.mu.Unlock()
}

// StoreKey records the fingerprint and key creation time (Unix seconds)
// on file for a user, as registration would.
func (s *SM) StoreKey(localpart, fingerprint string, created int64) {
	s.mu.Lock()
	s.keys[localpart] = keyRecord{fingerprint, created}
	s.mu.Unlock()
}

// Events returns what was received so far.
func (s *SM) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Changed is signalled whenever an event is recorded.
func (s *SM) Changed() <-chan struct{} { return s.notify }

// Sessions returns the sessions now open.
func (s *SM) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Session
	for _, sess := range s.sessions {
		out = append(out, *sess)
	}
	return out
}

// SessionByJID returns the open session of a full JID.
func (s *SM) SessionByJID(jid string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		if sess.JID == jid {
			return *sess, true
		}
	}
	return Session{}, false
}

// Deliver sends a stanza to a session, with an inbox id when rid is set.
func (s *SM) Deliver(ctx context.Context, sid, stanza, rid string) error {
	s.mu.Lock()
	sess := s.sessions[sid]
	if sess != nil && rid != "" {
		s.inbox[rid] = sid
	}
	s.mu.Unlock()
	if sess == nil {
		return errors.New("standin: no session " + sid)
	}
	attrs := " sid='" + sid + "'"
	if rid != "" {
		attrs += " rid='" + rid + "'"
	}
	return s.send(ctx, sess.C2S, attrs, stanza)
}

// End ends a session from the sm side with reason.
func (s *SM) End(ctx context.Context, sid, reason string) error {
	s.mu.Lock()
	sess := s.sessions[sid]
	delete(s.sessions, sid)
	s.mu.Unlock()
	if sess == nil {
		return errors.New("standin: no session " + sid)
	}
	return s.send(ctx, sess.C2S, " action='end' sid='"+sid+"' reason='"+reason+"'", "")
}

// Inbox returns the rids delivered and not acknowledged.
func (s *SM) Inbox() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for rid := range s.inbox {
		out = append(out, rid)
	}
	return out
}

// Send sends raw bytes to the router, for tests that need an envelope the
// stand-in would not make.
func (s *SM) Send(ctx context.Context, raw string) error {
	return s.client.Send(ctx, []byte(raw))
}

func (s *SM) send(ctx context.Context, to, attrs, inner string) error {
	raw := "<message from='" + s.cfg.Name + "' to='" + to + "'><session xmlns='" + NS + "'" + attrs
	if inner == "" {
		raw += "/></message>"
	} else {
		raw += ">" + inner + "</session></message>"
	}
	return s.client.Send(ctx, []byte(raw))
}

func (s *SM) record(e Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *SM) onRoute(name string, up bool) {
	if up {
		return
	}
	s.mu.Lock()
	var ended []string
	for sid, sess := range s.sessions {
		if sess.C2S == name {
			delete(s.sessions, sid)
			ended = append(ended, sid)
		}
	}
	s.mu.Unlock()
	for _, sid := range ended {
		s.record(Event{Action: "route-down-end", From: name, Attrs: map[string]string{"sid": sid}})
	}
}

func (s *SM) onStanza(top *xml.Top) {
	el, err := xml.Parse(top.Raw, xml.Scope{Default: stream.NSComponent})
	if err != nil {
		return
	}
	sess := el.Child("session", NS)
	if sess == nil {
		return
	}
	e := Event{Action: sess.Attr("action"), From: el.Attr("from"), Attrs: map[string]string{}}
	for _, a := range sess.Attrs {
		if a.Name != "xmlns" {
			e.Attrs[a.Name] = a.Value
		}
	}
	for ch := range sess.Elements() {
		if ch.Local() == "rid" {
			e.Rids = append(e.Rids, ch.Text())
		} else if e.Inner == nil {
			e.Inner = ch
		}
	}
	if e.Action == "" && e.Attrs["seq"] != "" {
		e.Action = "stanza"
	}
	// State changes land before the event is recorded, so a test that saw
	// the event also sees its effect.
	s.mu.Lock()
	muted := s.muted
	if !muted {
		switch e.Action {
		case "ack":
			for _, rid := range e.Rids {
				delete(s.inbox, rid)
			}
		case "end":
			delete(s.sessions, e.Attrs["sid"])
		}
	}
	s.mu.Unlock()
	s.record(e)
	if muted {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch e.Action {
	case "auth":
		s.auth(ctx, e)
	case "start":
		s.start(ctx, e)
	case "stanza":
		s.stanza(ctx, e, sess)
	case "register":
		reply := "<iq type='result' id='" + xmlAttr(e.Inner.Attr("id")) + "'><query xmlns='jabber:iq:register'>" +
			"<instructions>cert=" + strconv.FormatBool(e.Attrs["cert"] != "") + "</instructions></query></iq>"
		s.send(ctx, e.From, " action='register' conn='"+xmlAttr(e.Attrs["conn"])+"'", reply)
	}
}

// auth applies client-protocol §2 step 4: a user may log in with the key
// on file, or with a newer one (which then replaces it).
func (s *SM) auth(ctx context.Context, e Event) {
	local, _, _ := strings.Cut(e.Attrs["jid"], "@")
	fp := e.Attrs["fingerprint"]
	created, _ := strconv.ParseInt(e.Attrs["created"], 10, 64)
	key := ""
	if e.Inner != nil {
		key = e.Inner.Text()
	}
	conn := " conn='" + xmlAttr(e.Attrs["conn"]) + "'"
	if _, err := base64.StdEncoding.DecodeString(key); err != nil || key == "" {
		s.send(ctx, e.From, " action='failed'"+conn, "<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no key</text></error>")
		return
	}
	s.mu.Lock()
	rec, known := s.keys[local]
	ok := !known || rec.fingerprint == fp || created > rec.created
	if ok {
		s.keys[local] = keyRecord{fp, created}
	}
	s.mu.Unlock()
	if !ok {
		s.send(ctx, e.From, " action='failed'"+conn, "<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>a newer key is registered for this user</text></error>")
		return
	}
	s.send(ctx, e.From, " action='authorized'"+conn, "")
}

func (s *SM) start(ctx context.Context, e Event) {
	sid, jid := e.Attrs["sid"], e.Attrs["jid"]
	s.mu.Lock()
	var replaced *Session
	if _, update := s.sessions[sid]; !update {
		for osid, o := range s.sessions {
			if o.JID == jid {
				replaced = o
				delete(s.sessions, osid)
			}
		}
		s.sessions[sid] = &Session{SID: sid, JID: jid, C2S: e.From}
	}
	s.mu.Unlock()
	if replaced != nil {
		s.send(ctx, replaced.C2S, " action='end' sid='"+replaced.SID+"' reason='conflict'", "")
	}
	s.send(ctx, e.From, " action='started' sid='"+sid+"' jid='"+xmlAttr(jid)+"'", "")
}

// stanza confirms a client stanza and routes it.
func (s *SM) stanza(ctx context.Context, e Event, env *xml.Element) {
	sid := e.Attrs["sid"]
	seq, _ := strconv.ParseUint(e.Attrs["seq"], 10, 64)
	s.mu.Lock()
	from := s.sessions[sid]
	if from != nil && seq > from.Handled {
		from.Handled = seq
	}
	s.mu.Unlock()
	s.send(ctx, e.From, " sid='"+sid+"' handled='"+e.Attrs["seq"]+"'", "")
	if from == nil || e.Inner == nil {
		return
	}
	st := e.Inner
	to := st.Attr("to")
	if to == "" || to == s.cfg.Network {
		if st.Local() == "iq" && (st.Attr("type") == "get" || st.Attr("type") == "set") {
			reply := "<iq type='result' from='" + s.cfg.Network + "' to='" + xmlAttr(from.JID) + "' id='" + xmlAttr(st.Attr("id")) + "'/>"
			if st.ChildNS("urn:xmpp:ping") == nil {
				reply = "<iq type='error' from='" + s.cfg.Network + "' to='" + xmlAttr(from.JID) + "' id='" + xmlAttr(st.Attr("id")) + "'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
			}
			s.Deliver(ctx, sid, reply, "")
		}
		return
	}
	// Route to the sessions of the recipient: the full JID, or every
	// resource of a bare one.
	s.mu.Lock()
	var targets []*Session
	for _, t := range s.sessions {
		if t.JID == to || strings.HasPrefix(t.JID, to+"/") {
			targets = append(targets, t)
		}
	}
	s.mu.Unlock()
	stored := st.Local() == "message" && (st.Attr("type") == "chat" || st.Attr("type") == "") && st.Child("body", "") != nil
	for _, t := range targets {
		out := st.Copy()
		out.SetAttr("to", t.JID)
		out.RemoveAttr("xmlns")
		rid := ""
		if stored {
			rid = newRID()
		}
		s.Deliver(ctx, t.SID, out.String(), rid)
	}
}

func newRID() string {
	b := make([]byte, 20)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func xmlAttr(s string) string { return string(xml.AppendEscapedAttr(nil, s, '\'')) }
