package keyring

import (
	"crypto"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Certify signs the user's key: it checks userRing as [Inspect] does, adds
// a generic certification (type 0x10, SHA-256, the signature the Kontalk
// server made with `gpg --edit-key FPR uid 1 sign`) by k over each of the
// key's user IDs in domain, and returns the ring in binary form, which
// clients receive base64-encoded. Earlier certifications by k on those user
// IDs are replaced, so registering the same key again does not grow it.
// userRing may be armored or binary.
func (k *ServerKey) Certify(userRing []byte, domain string, now time.Time) (_ []byte, err error) {
	defer recoverParser(&err)
	now = now.Truncate(time.Second)
	if now.Before(k.public.pk.CreationTime) {
		return nil, refuse(ErrServerKey, fmt.Sprintf("server key %s created after %s", k.public.fingerprint, now.UTC().Format(time.RFC3339)), nil)
	}
	if !k.public.expires.IsZero() && now.After(k.public.expires) {
		return nil, refuse(ErrServerKey, fmt.Sprintf("server key %s expired at %s", k.public.fingerprint, k.public.expires.UTC().Format(time.RFC3339)), nil)
	}
	c, err := inspect(userRing, domain, now)
	if err != nil {
		return nil, err
	}
	for _, ident := range c.uids {
		sig := &packet.Signature{
			Version:      4,
			SigType:      packet.SigTypeGenericCert,
			PubKeyAlgo:   k.entity.PrivateKey.PubKeyAlgo,
			Hash:         crypto.SHA256,
			CreationTime: now,
			IssuerKeyId:  &k.entity.PrivateKey.KeyId,
		}
		if err := sig.SignUserId(ident.Name, c.entity.PrimaryKey, k.entity.PrivateKey, signingConfig()); err != nil {
			return nil, fmt.Errorf("keyring: certify %q: %w", ident.Name, err)
		}
		kept := make([]*packet.VerifiableSignature, 0, len(ident.OtherCertifications)+1)
		for _, other := range ident.OtherCertifications {
			if !other.Packet.CheckKeyIdOrFingerprint(k.public.pk) {
				kept = append(kept, other)
			}
		}
		ident.OtherCertifications = append(kept, packet.NewVerifiableSig(sig))
	}
	return serializePublic(c.entity)
}
