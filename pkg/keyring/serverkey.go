package keyring

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// DefaultServerKeyBits is the RSA modulus size of generated server keys.
const DefaultServerKeyBits = 3072

// ServerKeyOptions tunes [GenerateServerKey].
type ServerKeyOptions struct {
	// RSABits is the modulus size; 0 means DefaultServerKeyBits. At least
	// 2048.
	RSABits int
	// Created is the key's creation time; zero means now.
	Created time.Time
}

// ServerKey is the network's signing key: an OpenPGP v4 RSA key with its
// private part, which certifies users' keys. It is safe for concurrent use.
type ServerKey struct {
	entity *openpgp.Entity
	public *ServerPublicKey
}

// GenerateServerKey makes a new server key with one user ID "name <email>",
// flags certify and sign, no expiry, and no subkeys (clients only read the
// master key of the server's ring). RSA rather than Ed25519: see the
// package documentation.
func GenerateServerKey(name, email string, opts ServerKeyOptions) (*ServerKey, error) {
	bits := opts.RSABits
	if bits == 0 {
		bits = DefaultServerKeyBits
	}
	if bits < minRSABits {
		return nil, fmt.Errorf("keyring: generate server key: %d RSA bits, at least %d required", bits, minRSABits)
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.Truncate(time.Second)
	uid := packet.NewUserId(name, "", email)
	if uid == nil {
		return nil, fmt.Errorf("keyring: generate server key: user ID %q <%s> has invalid characters", name, email)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keyring: generate server key: %w", err)
	}
	primary := packet.NewSignerPrivateKey(created, rsaKey)
	isPrimary := true
	selfSig := &packet.Signature{
		Version:       4,
		SigType:       packet.SigTypePositiveCert,
		PubKeyAlgo:    primary.PubKeyAlgo,
		Hash:          crypto.SHA256,
		CreationTime:  created,
		IssuerKeyId:   &primary.KeyId,
		FlagsValid:    true,
		FlagCertify:   true,
		FlagSign:      true,
		IsPrimaryId:   &isPrimary,
		PreferredHash: []uint8{8, 10}, // SHA-256, SHA-512
	}
	if err := selfSig.SignUserId(uid.Id, &primary.PublicKey, primary, signingConfig()); err != nil {
		return nil, fmt.Errorf("keyring: generate server key: self-signature: %w", err)
	}
	e := &openpgp.Entity{PrimaryKey: &primary.PublicKey, PrivateKey: primary, Identities: map[string]*openpgp.Identity{}}
	e.Identities[uid.Id] = &openpgp.Identity{
		Primary:            e,
		Name:               uid.Id,
		UserId:             uid,
		SelfCertifications: []*packet.VerifiableSignature{packet.NewVerifiableSig(selfSig)},
	}
	return newServerKey(e)
}

// LoadServerKey reads a server key from an armored, unencrypted OpenPGP
// private key (as written by [ServerKey.ArmoredPrivate] or exported by gpg
// --export-secret-keys --armor). The key must be an RSA v4 key of at least
// 2048 bits that may certify and is not revoked.
func LoadServerKey(armored []byte) (_ *ServerKey, err error) {
	defer recoverParser(&err)
	if !isArmored(armored) {
		return nil, refuse(ErrServerKey, "server key must be an armored private key block", nil)
	}
	bin, err := dearmor(armored, openpgp.PrivateKeyType, maxServerKeySize)
	if err != nil {
		return nil, err
	}
	e, err := readEntity(bin)
	if err != nil {
		return nil, err
	}
	switch {
	case e.PrivateKey == nil:
		return nil, refuse(ErrServerKey, "no private key in the block", nil)
	case e.PrivateKey.Dummy():
		return nil, refuse(ErrServerKey, "private key is a stub (gnu-dummy), not the key itself", nil)
	case e.PrivateKey.Encrypted:
		return nil, refuse(ErrServerKey, "private key is passphrase-protected; export it without a passphrase", nil)
	}
	rsaKey, ok := e.PrivateKey.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, refuse(ErrServerKey, fmt.Sprintf("algorithm %d; server keys must be RSA so that old clients can read their certifications", e.PrimaryKey.PubKeyAlgo), nil)
	}
	if bits := rsaKey.N.BitLen(); bits < minRSABits {
		return nil, refuse(ErrServerKey, fmt.Sprintf("RSA key of %d bits; at least %d required", bits, minRSABits), nil)
	}
	return newServerKey(e)
}

func newServerKey(e *openpgp.Entity) (*ServerKey, error) {
	ring, err := serializePublic(e)
	if err != nil {
		return nil, err
	}
	pub, err := ParseServerPublicKey(ring)
	if err != nil {
		return nil, err
	}
	if pub.revoked {
		return nil, refuse(ErrServerKey, "server key "+pub.fingerprint+" is revoked", nil)
	}
	if !pub.canCertify {
		return nil, refuse(ErrServerKey, "server key "+pub.fingerprint+" lacks the certify flag", nil)
	}
	return &ServerKey{entity: e, public: pub}, nil
}

// Fingerprint is the key's fingerprint, upper-case hex.
func (k *ServerKey) Fingerprint() string { return k.public.fingerprint }

// Public is the key without its private part, for a [Trust] set.
func (k *ServerKey) Public() *ServerPublicKey { return k.public }

// ArmoredPrivate is the key with its private part, armored and
// unencrypted, for [LoadServerKey]; protect it with file permissions.
func (k *ServerKey) ArmoredPrivate() ([]byte, error) {
	var bin bytes.Buffer
	if err := k.entity.SerializePrivateWithoutSigning(&bin, nil); err != nil {
		return nil, fmt.Errorf("keyring: serialize server key: %w", err)
	}
	return armorBytes(openpgp.PrivateKeyType, bin.Bytes())
}

// ArmoredPublic is the public key, armored.
func (k *ServerKey) ArmoredPublic() ([]byte, error) { return k.public.Armored() }

// ServerPublicKey is a server key without its private part, as kept in a
// [Trust] set to verify certifications. It is immutable.
type ServerPublicKey struct {
	pk          *packet.PublicKey
	ring        []byte
	fingerprint string
	expires     time.Time // zero: never
	revoked     bool
	canCertify  bool
}

// ParseServerPublicKey reads a server's public key ring, armored or binary.
// The key must carry a valid self-signature. A revoked key is accepted here
// (so a Trust set can name it), and certifications by it are refused with
// [ErrServerKeyRevoked].
func ParseServerPublicKey(ring []byte) (_ *ServerPublicKey, err error) {
	defer recoverParser(&err)
	e, bin, err := readPublicRing(ring, maxServerKeySize)
	if err != nil {
		return nil, err
	}
	policy := signaturePolicy()
	// The zero date skips time checks: an old key stays usable for
	// verifying what it signed while it was valid.
	selfSig, _ := e.PrimaryIdentity(time.Time{}, policy)
	if selfSig == nil {
		return nil, refuse(ErrServerKey, "server key "+fingerprint(e.PrimaryKey)+" has no valid self-signature", nil)
	}
	return &ServerPublicKey{
		pk:          e.PrimaryKey,
		ring:        bytes.Clone(bin),
		fingerprint: fingerprint(e.PrimaryKey),
		expires:     keyExpiry(e.PrimaryKey, selfSig),
		revoked:     hasValidRevocation(e, policy),
		canCertify:  !selfSig.FlagsValid || selfSig.FlagCertify,
	}, nil
}

// Fingerprint is the key's fingerprint, upper-case hex.
func (k *ServerPublicKey) Fingerprint() string { return k.fingerprint }

// Revoked reports whether the key carries a valid revocation signature.
func (k *ServerPublicKey) Revoked() bool { return k.revoked }

// Ring is the public key ring in binary form, as clients fetch it
// (base64) with a urn:xmpp:pubkey:2 request to the domain.
func (k *ServerPublicKey) Ring() []byte { return bytes.Clone(k.ring) }

// Armored is the public key ring, armored.
func (k *ServerPublicKey) Armored() ([]byte, error) {
	return armorBytes(openpgp.PublicKeyType, k.ring)
}
