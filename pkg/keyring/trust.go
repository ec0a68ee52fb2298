package keyring

import (
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Trust is the set of server keys whose certifications [Verify] accepts:
// the current certifying key plus older keys that are still trusted, so a
// key rotation does not log out users certified by the previous key. It is
// immutable and safe for concurrent use; build a new one to change it.
type Trust struct {
	keys []*ServerPublicKey
}

// NewTrust makes a trust set of the given keys, in order of preference
// (the current key first). It needs at least one key and refuses
// duplicates.
func NewTrust(keys ...*ServerPublicKey) (*Trust, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: trust set needs at least one server key")
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k == nil {
			return nil, errors.New("keyring: nil server key in trust set")
		}
		if seen[k.fingerprint] {
			return nil, fmt.Errorf("keyring: server key %s listed twice in trust set", k.fingerprint)
		}
		seen[k.fingerprint] = true
	}
	return &Trust{keys: append([]*ServerPublicKey(nil), keys...)}, nil
}

// Fingerprints lists the trusted keys' fingerprints, in the order given to
// NewTrust.
func (t *Trust) Fingerprints() []string {
	fprs := make([]string, len(t.keys))
	for i, k := range t.keys {
		fprs[i] = k.fingerprint
	}
	return fprs
}

// issuer is the index of the trusted key that made sig, by issuer
// fingerprint or key ID, or -1.
func (t *Trust) issuer(sig *packet.Signature) int {
	for i, k := range t.keys {
		if sig.CheckKeyIdOrFingerprint(k.pk) {
			return i
		}
	}
	return -1
}
