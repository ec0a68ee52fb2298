package register

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
)

// rollover replaces the user's key (client-protocol §1.4): the form
// carries the new key (publickey) and the stored key with its
// revocation signature (revoked). The new key is certified and stored;
// the old one no longer logs in (sm/session accepts only the stored key
// or a newer one).
func (r *Register) rollover(ctx context.Context, u string, f *form) (*xml.Element, error) {
	if r.opts.Signer == nil {
		return nil, stanza.Errorf(stanza.ServiceUnavailable, "the server cannot certify keys")
	}
	ring, err := decodeBase64(f.value("publickey"))
	if err != nil || len(ring) == 0 {
		return nil, stanza.Errorf(stanza.BadRequest, textBadKey)
	}
	user, err := r.env.Store.Users.Get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("register: rollover: %w", err)
	}
	if user.Fingerprint != "" {
		revoked, err := decodeBase64(f.value("revoked"))
		if err != nil || len(revoked) == 0 {
			return nil, stanza.Errorf(stanza.Forbidden, textBadRevocation)
		}
		if err := keyring.VerifyRevocation(revoked, user.Fingerprint); err != nil {
			r.env.Log.Debug("revocation refused", zap.String("user", u), zap.Error(err))
			return nil, stanza.Errorf(stanza.Forbidden, textBadRevocation)
		}
	}
	now := time.Now()
	id, err := keyring.Inspect(ring, r.env.Network, now)
	if err != nil || id.Localpart != u {
		r.env.Log.Debug("rollover key refused", zap.String("user", u), zap.Error(err))
		return nil, stanza.Errorf(stanza.BadRequest, textBadKey)
	}
	certified, err := r.opts.Signer.Certify(ring, r.env.Network, now)
	if err != nil {
		r.env.Log.Warn("key not certified", zap.String("user", u), zap.Error(err))
		return nil, stanza.Errorf(stanza.BadRequest, textBadKey)
	}
	if err := r.setKey(ctx, u, id.Fingerprint, certified); err != nil {
		return nil, err
	}
	r.env.Log.Info("key replaced", zap.String("user", u), zap.String("old", user.Fingerprint), zap.String("new", id.Fingerprint))
	x := newForm("form", NSKey, "", "")
	field(x, "publickey", "text-single", "Signed public key", base64.StdEncoding.EncodeToString(certified))
	return xml.New("query", NS).Append(x), nil
}
