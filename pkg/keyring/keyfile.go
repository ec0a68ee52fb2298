package keyring

import (
	"bytes"
	"errors"
	"fmt"
)

// KeyFile is a network's server key file as the processes read it: one
// or more armored keys, the current key first, then older keys that are
// still trusted. Rotating the key puts a new key first and keeps the old
// ones, so users certified by them keep logging in. The current key may
// be given with its private part (sm certifies users' keys with it);
// older keys only need their public part. One binary public key is
// accepted too.
type KeyFile struct {
	// Signer is the current key with its private part, nil when the
	// file gives only its public part.
	Signer *ServerKey
	// Keys are the public keys, current first.
	Keys []*ServerPublicKey
}

// ParseKeyFile reads a key file; an empty file has no keys.
func ParseKeyFile(data []byte) (*KeyFile, error) {
	f := &KeyFile{}
	if len(bytes.TrimSpace(data)) == 0 {
		return f, nil
	}
	blocks, err := armoredBlocks(data)
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		blocks = [][]byte{data}
	}
	for n, b := range blocks {
		if bytes.Contains(b, []byte("PRIVATE KEY BLOCK")) {
			k, err := LoadServerKey(b)
			if err != nil {
				return nil, fmt.Errorf("server key %d: %w", n+1, err)
			}
			if n == 0 {
				f.Signer = k
			}
			f.Keys = append(f.Keys, k.Public())
			continue
		}
		k, err := ParseServerPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("server key %d: %w", n+1, err)
		}
		f.Keys = append(f.Keys, k)
	}
	return f, nil
}

// Trust is the trust set of the file's keys; nil for a file without
// keys.
func (f *KeyFile) Trust() (*Trust, error) {
	if len(f.Keys) == 0 {
		return nil, nil
	}
	return NewTrust(f.Keys...)
}

// Rotate returns the key file with next as the current key, with its
// private part, and the file's keys after it, public only.
func (f *KeyFile) Rotate(next *ServerKey) ([]byte, error) {
	out, err := next.ArmoredPrivate()
	if err != nil {
		return nil, err
	}
	for _, k := range f.Keys {
		if k.Fingerprint() == next.Fingerprint() {
			continue
		}
		a, err := k.Armored()
		if err != nil {
			return nil, err
		}
		out = append(out, a...)
	}
	return out, nil
}

// armoredBlocks splits data into its armored blocks.
func armoredBlocks(data []byte) ([][]byte, error) {
	var blocks [][]byte
	const begin, end = "-----BEGIN PGP ", "-----END PGP "
	rest := data
	for {
		i := bytes.Index(rest, []byte(begin))
		if i < 0 {
			return blocks, nil
		}
		j := bytes.Index(rest[i:], []byte(end))
		if j < 0 {
			return nil, errors.New("server key: armored block without its END line")
		}
		// The END line closes with five dashes.
		k := bytes.Index(rest[i+j+len(end):], []byte("-----"))
		if k < 0 {
			return nil, errors.New("server key: armored block with a broken END line")
		}
		stop := i + j + len(end) + k + 5
		blocks = append(blocks, rest[i:stop])
		rest = rest[stop:]
	}
}
