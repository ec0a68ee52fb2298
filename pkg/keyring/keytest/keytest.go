package keytest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Options select a variant of the generated key. The zero value is a
// valid, current Android-layout key.
type Options struct {
	// Created is the key's creation time (and its signatures'); zero means
	// now.
	Created time.Time
	// Lifetime makes the key expire that long after Created; zero means
	// no expiry. An expired key: Created two days ago, Lifetime one day.
	Lifetime time.Duration
	// Revoked adds a key revocation signature without a reason subpacket,
	// as the Android client's PGP.revokeKey makes it.
	Revoked bool
	// Legacy makes the older layout: a single RSA-2048 key flagged
	// certify, sign and authenticate, with no subkeys.
	Legacy bool
}

// UserKey is a generated user key.
type UserKey struct {
	// Entity is the key with its private parts.
	Entity *openpgp.Entity
	// PublicRing is the binary public key ring, as clients put it in the
	// bridge certificate.
	PublicRing []byte
	// Signer is the RSA master private key; a bridge certificate is
	// self-signed with it.
	Signer *rsa.PrivateKey
}

// NewUserKey generates a user key for localpart@domain named name. Pass
// another domain to get a key with a user ID outside the network.
func NewUserKey(name, localpart, domain string, opts Options) (*UserKey, error) {
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.Truncate(time.Second)
	cfg := &packet.Config{
		Time:                                  func() time.Time { return created },
		DefaultHash:                           crypto.SHA256,
		NonDeterministicSignaturesViaNotation: new(bool),
	}
	if opts.Lifetime > 0 {
		cfg.KeyLifetimeSecs = uint32(opts.Lifetime / time.Second)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("keytest: generate master key: %w", err)
	}
	primary := packet.NewSignerPrivateKey(created, rsaKey)
	e := &openpgp.Entity{PrimaryKey: &primary.PublicKey, PrivateKey: primary, Identities: map[string]*openpgp.Identity{}}

	uid := packet.NewUserId(name, "", localpart+"@"+domain)
	if uid == nil {
		return nil, fmt.Errorf("keytest: user ID %q <%s@%s> has invalid characters", name, localpart, domain)
	}
	isPrimary := true
	selfSig := &packet.Signature{
		Version:          4,
		SigType:          packet.SigTypePositiveCert,
		PubKeyAlgo:       primary.PubKeyAlgo,
		Hash:             crypto.SHA256,
		CreationTime:     created,
		IssuerKeyId:      &primary.KeyId,
		FlagsValid:       true,
		FlagCertify:      true,
		FlagAuthenticate: true,
		FlagSign:         opts.Legacy,
		IsPrimaryId:      &isPrimary,
		PreferredHash:    []uint8{8}, // SHA-256
	}
	if cfg.KeyLifetimeSecs > 0 {
		selfSig.KeyLifetimeSecs = &cfg.KeyLifetimeSecs
	}
	if err := selfSig.SignUserId(uid.Id, &primary.PublicKey, primary, cfg); err != nil {
		return nil, fmt.Errorf("keytest: self-signature: %w", err)
	}
	e.Identities[uid.Id] = &openpgp.Identity{
		Primary:            e,
		Name:               uid.Id,
		UserId:             uid,
		SelfCertifications: []*packet.VerifiableSignature{packet.NewVerifiableSig(selfSig)},
	}

	if !opts.Legacy {
		ec := *cfg
		ec.Algorithm, ec.Curve = packet.PubKeyAlgoECDSA, packet.CurveNistP256
		if err := e.AddSigningSubkey(&ec); err != nil {
			return nil, fmt.Errorf("keytest: signing subkey: %w", err)
		}
		ec.Algorithm = packet.PubKeyAlgoECDH
		if err := e.AddEncryptionSubkey(&ec); err != nil {
			return nil, fmt.Errorf("keytest: encryption subkey: %w", err)
		}
		// Android flags its encryption subkey for communications only.
		e.Subkeys[1].Bindings[0].Packet.FlagEncryptStorage = false
		if err := e.Subkeys[1].Bindings[0].Packet.SignKey(e.Subkeys[1].PublicKey, primary, cfg); err != nil {
			return nil, fmt.Errorf("keytest: encryption subkey binding: %w", err)
		}
	}

	if opts.Revoked {
		rev, err := revocation(e, created)
		if err != nil {
			return nil, err
		}
		e.Revocations = append(e.Revocations, packet.NewVerifiableSig(rev))
	}

	var ring bytes.Buffer
	if err := e.Serialize(&ring); err != nil {
		return nil, fmt.Errorf("keytest: serialize public ring: %w", err)
	}
	return &UserKey{Entity: e, PublicRing: ring.Bytes(), Signer: rsaKey}, nil
}

// Revoke adds a key revocation signature made at the given time by k's
// master key to ring (k.PublicRing when nil, or a ring of the same key,
// such as the server-certified one), as the Android client revokes its
// stored key for a key rollover. k itself is left unchanged.
func (k *UserKey) Revoke(ring []byte, at time.Time) ([]byte, error) {
	if ring == nil {
		ring = k.PublicRing
	}
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(ring)))
	if err != nil {
		return nil, fmt.Errorf("keytest: read ring to revoke: %w", err)
	}
	if !bytes.Equal(e.PrimaryKey.Fingerprint, k.Entity.PrimaryKey.Fingerprint) {
		return nil, fmt.Errorf("keytest: ring is key %X, not %X", e.PrimaryKey.Fingerprint, k.Entity.PrimaryKey.Fingerprint)
	}
	e.PrivateKey = k.Entity.PrivateKey
	rev, err := revocation(e, at)
	if err != nil {
		return nil, err
	}
	e.Revocations = append(e.Revocations, packet.NewVerifiableSig(rev))
	var out bytes.Buffer
	if err := e.Serialize(&out); err != nil {
		return nil, fmt.Errorf("keytest: serialize revoked ring: %w", err)
	}
	return out.Bytes(), nil
}

// ArmoredPrivate is the key with its private parts, armored and
// unencrypted.
func (k *UserKey) ArmoredPrivate() ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("keytest: armor: %w", err)
	}
	if err := k.Entity.SerializePrivateWithoutSigning(w, nil); err != nil {
		return nil, fmt.Errorf("keytest: serialize private key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("keytest: armor: %w", err)
	}
	return buf.Bytes(), nil
}

// revocation makes a key revocation signature over e's master key with no
// reason subpacket, like Bouncy Castle's PGPSignatureGenerator in the
// Android client.
func revocation(e *openpgp.Entity, at time.Time) (*packet.Signature, error) {
	rev := &packet.Signature{
		Version:      4,
		SigType:      packet.SigTypeKeyRevocation,
		PubKeyAlgo:   e.PrimaryKey.PubKeyAlgo,
		Hash:         crypto.SHA256,
		CreationTime: at.Truncate(time.Second),
		IssuerKeyId:  &e.PrimaryKey.KeyId,
	}
	if err := rev.RevokeKey(e.PrimaryKey, e.PrivateKey, &packet.Config{NonDeterministicSignaturesViaNotation: new(bool)}); err != nil {
		return nil, fmt.Errorf("keytest: revocation signature: %w", err)
	}
	return rev, nil
}
