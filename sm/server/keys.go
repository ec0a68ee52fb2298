package server

import (
	"github.com/kontalk/xmppd/pkg/keyring"
)

// serverKeys are the network's server keys as sm uses them.
type serverKeys struct {
	// current is the current key's public ring, binary, for clients.
	current []byte
	// fingerprint is the current key's fingerprint.
	fingerprint string
	// trust holds every key, for checking users' keys.
	trust *keyring.Trust
	// signer is the current key with its private part, which certifies
	// users' keys at registration and rollover; nil when the current key
	// was given without it.
	signer *keyring.ServerKey
}

// parseServerKeys reads the key file (keyring.KeyFile): one or more
// armored keys, public or private, or one binary public key, the current
// key first.
func parseServerKeys(data []byte) (*serverKeys, error) {
	f, err := keyring.ParseKeyFile(data)
	if err != nil {
		return nil, err
	}
	if len(f.Keys) == 0 {
		return &serverKeys{}, nil
	}
	trust, err := f.Trust()
	if err != nil {
		return nil, err
	}
	return &serverKeys{current: f.Keys[0].Ring(), fingerprint: f.Keys[0].Fingerprint(), trust: trust, signer: f.Signer}, nil
}
