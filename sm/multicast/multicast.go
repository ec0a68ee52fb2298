package multicast

import (
	"context"
	"fmt"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// NS is the XEP-0033 namespace.
const NS = "http://jabber.org/protocol/address"

// MaxAddresses bounds the recipients of one message.
const MaxAddresses = 500

// SendFunc sends a message of the session's user, as if the user had
// addressed it to its 'to'.
type SendFunc func(ctx context.Context, s *core.Session, st *core.Stanza) error

// Multicast fans addressed messages out.
type Multicast struct {
	env  *core.Env
	send SendFunc
}

// New returns the feature; send handles each copy.
func New(env *core.Env, send SendFunc) *Multicast { return &Multicast{env: env, send: send} }

// Addressed reports whether st is a message with XEP-0033 addresses.
func Addressed(st *core.Stanza) bool {
	return st.Name == "message" && st.El.Child("addresses", NS) != nil
}

// Send sends one copy of the message st of the session s to each of its
// addresses. A *stanza.Error means the message as a whole is refused.
func (m *Multicast) Send(ctx context.Context, s *core.Session, st *core.Stanza) error {
	targets, err := addresses(st.El.Child("addresses", NS))
	if err != nil {
		return err
	}
	b := m.env.Store.Batch()
	blocked := make([]*store.Future[bool], len(targets))
	for i, t := range targets {
		blocked[i] = b.Blocked(s.User, core.Candidates(t))
	}
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("multicast: %w", err)
	}
	for i, t := range targets {
		if bl, err := blocked[i].Get(); err != nil || bl {
			if err != nil {
				return fmt.Errorf("multicast: %w", err)
			}
			continue
		}
		c, err := copyFor(st, t.String())
		if err != nil {
			return err
		}
		if err := m.send(ctx, s, c); err != nil {
			return err
		}
	}
	return nil
}

// addresses reads the recipients: addresses of type to, cc and bcc not
// yet delivered, each once.
func addresses(el *xml.Element) ([]jid.JID, error) {
	var out []jid.JID
	seen := map[string]bool{}
	for a := range el.ChildrenNamed("address", NS) {
		switch a.Attr("type") {
		case "to", "cc", "bcc":
		default:
			continue
		}
		if a.Attr("delivered") == "true" {
			continue
		}
		j, err := jid.Parse(a.Attr("jid"))
		if err != nil {
			return nil, stanza.Errorf(stanza.JIDMalformed, "address %q: %v", a.Attr("jid"), err)
		}
		if seen[j.String()] {
			continue
		}
		seen[j.String()] = true
		if len(out) == MaxAddresses {
			return nil, stanza.Errorf(stanza.NotAcceptable, "more than %d addresses", MaxAddresses)
		}
		out = append(out, j)
	}
	if len(out) == 0 {
		return nil, stanza.Errorf(stanza.BadRequest, "no address to send to")
	}
	return out, nil
}

// copyFor is the message for one recipient: addressed to it, without
// the addresses.
func copyFor(st *core.Stanza, to string) (*core.Stanza, error) {
	el := st.El.Copy()
	el.RemoveChildren(func(c *xml.Element) bool { return c.Local() == "addresses" && c.Space == NS })
	el.SetAttr("to", to)
	top, err := core.ParseRaw(el.AppendXML(nil))
	if err != nil {
		return nil, fmt.Errorf("multicast: copy: %w", err)
	}
	c, err := core.ParseStanza(top, stream.NSClient)
	if err != nil {
		return nil, fmt.Errorf("multicast: copy: %w", err)
	}
	return c, nil
}
