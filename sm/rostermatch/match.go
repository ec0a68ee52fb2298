package rostermatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// NS is the roster match namespace.
const NS = "http://kontalk.org/extensions/roster"

// MaxItems bounds one request: Kontalk's Android client splits its
// address book into requests of at most 500 items.
const MaxItems = 500

// Match answers roster match requests.
type Match struct {
	env *core.Env
}

// New returns the roster match feature.
func New(env *core.Env) *Match { return &Match{env: env} }

// HandleIQ answers a roster match get.
func (m *Match) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Type != "get" {
		return nil, stanza.Errorf(stanza.BadRequest, "roster match is a get")
	}
	var users []string
	for it := range iq.Payload.ChildrenNamed("item", NS) {
		j, err := jid.Parse(it.Attr("jid"))
		if err != nil || j.Localpart() == "" || j.Domainpart() != m.env.Network || j.Resourcepart() != "" {
			continue // not a user of this network: never a match
		}
		users = append(users, j.Localpart())
		if len(users) > MaxItems {
			return nil, stanza.Errorf(stanza.NotAcceptable, "more than %d items", MaxItems)
		}
	}
	q := xml.New("query", NS)
	if len(users) == 0 {
		return q, nil
	}
	cands := core.Candidates(iq.From)
	b := m.env.Store.Batch()
	homes := make([]*store.Future[string], len(users))
	blocked := make([]*store.Future[bool], len(users))
	for i, u := range users {
		homes[i] = b.Home(u)
		blocked[i] = b.Blocked(u, cands)
	}
	if err := b.Exec(ctx); err != nil {
		return nil, fmt.Errorf("roster match: %w", err)
	}
	for i, u := range users {
		if _, err := homes[i].Get(); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		if bl, err := blocked[i].Get(); err != nil || bl {
			if err != nil {
				return nil, err
			}
			continue
		}
		q.Append(xml.New("item", "", xml.Attr{Name: "jid", Value: m.env.UserJID(u)}))
	}
	return q, nil
}
