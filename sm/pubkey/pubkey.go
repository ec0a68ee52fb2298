package pubkey

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// Pubkey answers public key requests.
type Pubkey struct {
	env       *core.Env
	serverKey []byte
}

// New returns the feature; serverKey is the network's current server
// public key ring, binary (nil when none is configured).
func New(env *core.Env, serverKey []byte) *Pubkey { return &Pubkey{env: env, serverKey: serverKey} }

func reply(ring []byte) *xml.Element {
	return xml.New("pubkey", core.NSPubkey).AppendText(base64.StdEncoding.EncodeToString(ring))
}

// HandleIQ answers a key get.
func (p *Pubkey) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Type != "get" {
		return nil, stanza.Errorf(stanza.BadRequest, "keys are only read")
	}
	// Clients ask for the server's key with the domain or no 'to' at all.
	if iq.Target == core.TargetDomain || iq.Target == core.TargetSelf && !iq.HasTo {
		if len(p.serverKey) == 0 {
			return nil, stanza.Errorf(stanza.ItemNotFound, "no server key configured")
		}
		return reply(p.serverKey), nil
	}
	if iq.Target != core.TargetSelf && iq.Target != core.TargetUser {
		return nil, stanza.Errorf(stanza.ServiceUnavailable, "")
	}
	user, err := p.env.Store.Users.Get(ctx, iq.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("pubkey of %s: %w", iq.User, err)
	}
	if user == nil || len(user.Key) == 0 {
		return nil, stanza.Errorf(stanza.ItemNotFound, "Public key not found.")
	}
	return reply(user.Key), nil
}
