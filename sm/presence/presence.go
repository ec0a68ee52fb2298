package presence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// routeChunk bounds the bytes of one broadcast batch handed to the
// router connection at once.
const routeChunk = 64 << 10

// Presence is the presence feature.
type Presence struct {
	env *core.Env
	// OnInitial runs after a session's first available presence went
	// out: sm delivers the session's stored inbox there.
	OnInitial func(ctx context.Context, s *core.Session) error
}

// New returns the presence feature.
func New(env *core.Env) *Presence { return &Presence{env: env} }

// AppendPrint appends the fingerprint element added to user presences.
func AppendPrint(dst []byte, fingerprint string) []byte {
	dst = append(dst, "<pubkey xmlns='"+core.NSPubkey+"'><print>"...)
	dst = xml.AppendEscapedText(dst, fingerprint)
	return append(dst, "</print></pubkey>"...)
}

// userState is what a broadcast needs to know about the user.
type userState struct {
	roster   *store.Roster
	sessions map[string]store.Session
	blocked  map[string]bool
	info     *store.User
}

func (p *Presence) load(ctx context.Context, u string, presences bool) (*userState, map[string][]byte, error) {
	b := p.env.Store.Batch()
	rosterF := b.Roster(u)
	sessF := b.Sessions(u)
	blockF := b.BlockList(u)
	infoF := b.UserInfo(u)
	var presF *store.Future[map[string][]byte]
	if presences {
		presF = b.Presences(u)
	}
	if err := b.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("presence: load %s: %w", u, err)
	}
	st := &userState{blocked: map[string]bool{}}
	var err error
	if st.roster, err = rosterF.Get(); err != nil {
		return nil, nil, err
	}
	if st.sessions, err = sessF.Get(); err != nil {
		return nil, nil, err
	}
	list, err := blockF.Get()
	if err != nil {
		return nil, nil, err
	}
	for _, j := range list {
		st.blocked[j] = true
	}
	if st.info, err = infoF.Get(); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if st.info == nil {
		st.info = &store.User{}
	}
	var pres map[string][]byte
	if presF != nil {
		if pres, err = presF.Get(); err != nil {
			return nil, nil, err
		}
	}
	return st, pres, nil
}

// contacts returns the roster contacts whose subscription matches one of
// subs, leaving out those the user blocked.
func (st *userState) contacts(subs ...string) []string {
	var out []string
	for c, it := range st.roster.Items {
		for _, s := range subs {
			if it.Sub == s && !st.blocked[c] && !st.blockedDomain(c) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func (st *userState) blockedDomain(bare string) bool {
	if i := strings.IndexByte(bare, '@'); i >= 0 {
		return st.blocked[bare[i+1:]]
	}
	return false
}

// Outbound handles a presence without 'to' from a session: available or
// unavailable broadcast.
func (p *Presence) Outbound(ctx context.Context, s *core.Session, st *core.Stanza) error {
	switch st.Type {
	case "":
		return p.available(ctx, s, st)
	case "unavailable":
		return p.unavailable(ctx, s, st)
	}
	return nil
}

func priority(st *core.Stanza) int {
	if c := st.Child("priority"); c != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(c.Text())); err == nil {
			return max(-128, min(127, n))
		}
	}
	return 0
}

func hasPubkey(st *core.Stanza) bool {
	for c := range st.El.Elements() {
		if c.Space == core.NSPubkey {
			return true
		}
	}
	return false
}

func (p *Presence) available(ctx context.Context, s *core.Session, st *core.Stanza) error {
	state, presences, err := p.load(ctx, s.User, true)
	if err != nil {
		return err
	}
	cur, ok := state.sessions[s.Resource]
	if !ok || cur.SID != s.SID {
		return nil // the session ended meanwhile
	}
	raw := st.Top.Raw
	if fp := state.info.Fingerprint; fp != "" && !hasPubkey(st) {
		raw = core.InsertChild(raw, AppendPrint(nil, fp))
	}
	top, err := core.ParseRaw(raw)
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	wasAvailable := cur.Avail
	cur.Avail, cur.Prio = true, priority(st)
	if ok, err := p.env.Store.Sessions.Update(ctx, s.User, s.Resource, cur, raw); err != nil || !ok {
		return err
	}
	s.Session = cur
	state.sessions[s.Resource] = cur
	if err := p.broadcast(ctx, top, state.contacts(store.SubFrom, store.SubBoth)); err != nil {
		return err
	}
	if err := p.toOwnSessions(ctx, s.User, top, state.sessions); err != nil {
		return err
	}
	if wasAvailable {
		return nil
	}
	// A new session learns the presence of the user's other resources.
	for res, pr := range presences {
		if other, ok := state.sessions[res]; !ok || res == s.Resource || !other.Avail {
			continue
		}
		if t, err := core.ParseRaw(pr); err == nil {
			if err := p.env.Out.Deliver(ctx, s, "", t.AppendWithAttr(nil, "to", p.env.FullJID(s))); err != nil {
				return err
			}
		}
	}
	var probes []byte
	from := p.env.UserJID(s.User)
	for _, c := range state.contacts(store.SubTo, store.SubBoth) {
		probes = core.AppendPresence(probes, "probe", "", from, c, nil)
	}
	if len(probes) > 0 {
		if err := p.env.Out.Route(ctx, probes); err != nil {
			return err
		}
	}
	if p.OnInitial != nil {
		return p.OnInitial(ctx, s)
	}
	return nil
}

func (p *Presence) unavailable(ctx context.Context, s *core.Session, st *core.Stanza) error {
	state, _, err := p.load(ctx, s.User, false)
	if err != nil {
		return err
	}
	cur, ok := state.sessions[s.Resource]
	if !ok || cur.SID != s.SID {
		return nil
	}
	wasAvailable := cur.Avail
	cur.Avail, cur.Prio = false, 0
	if ok, err := p.env.Store.Sessions.Update(ctx, s.User, s.Resource, cur, nil); err != nil || !ok {
		return err
	}
	s.Session = cur
	if !wasAvailable {
		return nil
	}
	if status := st.Child("status"); status != nil {
		if err := p.env.Store.Users.SetStatus(ctx, s.User, status.Text()); err != nil {
			return err
		}
	}
	raw := core.InsertChild(st.Top.Raw, core.AppendDelay(nil, p.env.Network, time.Now(), ""))
	top, err := core.ParseRaw(raw)
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	if err := p.broadcast(ctx, top, state.contacts(store.SubFrom, store.SubBoth)); err != nil {
		return err
	}
	return p.toOwnSessions(ctx, s.User, top, state.sessions)
}

// Ended broadcasts the unavailable presence of a session that ended
// without one (its record as it was), stamped with the logout time.
func (p *Presence) Ended(ctx context.Context, s *core.Session) error {
	if !s.Avail {
		return nil
	}
	state, _, err := p.load(ctx, s.User, false)
	if err != nil {
		return err
	}
	raw := core.AppendPresence(nil, "unavailable", "", p.env.FullJID(s), "", core.AppendDelay(nil, p.env.Network, time.Now(), ""))
	top, err := core.ParseRaw(raw)
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	if err := p.broadcast(ctx, top, state.contacts(store.SubFrom, store.SubBoth)); err != nil {
		return err
	}
	return p.toOwnSessions(ctx, s.User, top, state.sessions)
}

// broadcast routes the presence top to each contact, in batches.
func (p *Presence) broadcast(ctx context.Context, top *xml.Top, contacts []string) error {
	var buf []byte
	for _, c := range contacts {
		buf = top.AppendWithAttr(buf, "to", c)
		if len(buf) >= routeChunk {
			if err := p.env.Out.Route(ctx, buf); err != nil {
				return err
			}
			buf = buf[:0:0]
		}
	}
	if len(buf) == 0 {
		return nil
	}
	return p.env.Out.Route(ctx, buf)
}

// toOwnSessions delivers the presence top to the user's available
// sessions.
func (p *Presence) toOwnSessions(ctx context.Context, u string, top *xml.Top, sessions map[string]store.Session) error {
	for res, rec := range sessions {
		if !rec.Avail {
			continue
		}
		s := &core.Session{User: u, Resource: res, Session: rec}
		if err := p.env.Out.Deliver(ctx, s, "", top.AppendWithAttr(nil, "to", p.env.FullJID(s))); err != nil {
			return err
		}
	}
	return nil
}

// Probe answers a presence probe for the user u (RFC 6121 §4.3): the
// stored presence of each available session, or an unavailable presence
// with the last logout. Probes from contacts without a subscription to
// the user, and from entities the user blocked, get nothing.
func (p *Presence) Probe(ctx context.Context, u string, st *core.Stanza) error {
	bare := st.BareFrom()
	b := p.env.Store.Batch()
	itemF := b.RosterItem(u, bare)
	presF := b.Presences(u)
	sessF := b.Sessions(u)
	infoF := b.UserInfo(u)
	blockF := b.Blocked(u, core.Candidates(st.From))
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("presence: probe of %s: %w", u, err)
	}
	if blocked, err := blockF.Get(); err != nil || blocked {
		return err
	}
	if bare != p.env.UserJID(u) {
		it, err := itemF.Get()
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if it.Sub != store.SubFrom && it.Sub != store.SubBoth {
			return nil
		}
	}
	presences, err := presF.Get()
	if err != nil {
		return err
	}
	sessions, err := sessF.Get()
	if err != nil {
		return err
	}
	to := st.From.String()
	var out []byte
	for res, pr := range presences {
		if s, ok := sessions[res]; !ok || !s.Avail {
			continue
		}
		if t, err := core.ParseRaw(pr); err == nil {
			out = t.AppendWithAttr(out, "to", to)
		}
	}
	if len(out) == 0 {
		info, err := infoF.Get()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var payload []byte
		if info != nil && info.Status != "" {
			payload = append(payload, "<status>"...)
			payload = xml.AppendEscapedText(payload, info.Status)
			payload = append(payload, "</status>"...)
		}
		if info != nil && !info.Seen.IsZero() {
			payload = core.AppendDelay(payload, p.env.Network, info.Seen, "")
		}
		out = core.AppendPresence(out, "unavailable", "", p.env.UserJID(u), to, payload)
	}
	return p.env.Out.Route(ctx, out)
}

// Inbound delivers a presence from someone else to the user's sessions:
// to the session named by a full 'to', or to every available session.
func (p *Presence) Inbound(ctx context.Context, u string, sessions map[string]store.Session, st *core.Stanza) error {
	res := st.To.Resourcepart()
	for r, rec := range sessions {
		if res != "" && r != res || res == "" && !rec.Avail {
			continue
		}
		s := &core.Session{User: u, Resource: r, Session: rec}
		if err := p.env.Out.Deliver(ctx, s, "", core.Readdress(st.Top, p.env.FullJID(s))); err != nil {
			return err
		}
	}
	return nil
}

// SendCurrent sends the user's available presences to the address to
// (after the user approved a subscription, or unblocked someone).
func (p *Presence) SendCurrent(ctx context.Context, u, to string) error {
	b := p.env.Store.Batch()
	presF := b.Presences(u)
	sessF := b.Sessions(u)
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("presence: current of %s: %w", u, err)
	}
	presences, err := presF.Get()
	if err != nil {
		return err
	}
	sessions, err := sessF.Get()
	if err != nil {
		return err
	}
	var out []byte
	for res, pr := range presences {
		if s, ok := sessions[res]; ok && s.Avail {
			if t, err := core.ParseRaw(pr); err == nil {
				out = t.AppendWithAttr(out, "to", to)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return p.env.Out.Route(ctx, out)
}

// SendUnavailable sends an unavailable presence from each of the user's
// available sessions to the address to (after a subscription was
// cancelled, or the user blocked someone).
func (p *Presence) SendUnavailable(ctx context.Context, u, to string) error {
	sessions, err := p.env.Store.Sessions.All(ctx, u)
	if err != nil {
		return fmt.Errorf("presence: unavailable of %s: %w", u, err)
	}
	var out []byte
	for res, rec := range sessions {
		if rec.Avail {
			s := &core.Session{User: u, Resource: res}
			out = core.AppendPresence(out, "unavailable", "", p.env.FullJID(s), to, nil)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return p.env.Out.Route(ctx, out)
}
