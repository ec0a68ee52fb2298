package keyring

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gcecdsa "github.com/ProtonMail/go-crypto/openpgp/ecdsa"
	gced25519 "github.com/ProtonMail/go-crypto/openpgp/ed25519"
	"github.com/ProtonMail/go-crypto/openpgp/eddsa"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

const (
	// MaxRingSize bounds the user key ring bytes (armored or binary) this
	// package parses. Kontalk rings are under 2 KiB, plus about 300 bytes
	// per certification.
	MaxRingSize = 16 << 10

	// MaxClockSkew is how far in the future a signature's creation time may
	// lie and still count. Phones generate their key, and self-sign it, with
	// their own clock just before registering; hosts of one network certify
	// and verify with theirs. Key expiry and certification expiry are judged
	// at the caller's now; a self-signature's own lifetime (Kontalk clients
	// never set one) is judged at now plus the skew.
	MaxClockSkew = 24 * time.Hour

	// The ring arrives before authentication, so the work it can cause is
	// bounded: at most maxKeySignatures signatures that may be checked
	// (self-signatures, revocations, certifications; a Kontalk ring has one
	// self-signature and a certification per server key), each by a master
	// key no costlier than RSA-4096 or P-256 (0.5–1 ms per check on a shared
	// 2-core machine, 4–8 ms for the worst ring: BenchmarkVerifyHostile;
	// P-521 would cost six times as much per check, RSA-16384 fifteen).
	// minRSABits matches go-crypto's own floor for RSA keys it signs with.
	maxKeySignatures = 8
	minRSABits       = 2048
	maxRSABits       = 4096

	// maxServerKeySize bounds a server key ring, which comes from the
	// operator and may carry many third-party signatures.
	maxServerKeySize = 1 << 20
)

// signaturePolicy is the go-crypto configuration for checking
// self-signatures and certifications. It is written out, not left to the
// library's defaults, because real clients depend on it: BC-generated keys
// and gpg 1.x certifications use SHA-1, so only MD5 and RIPEMD-160 are
// refused. A nil KnownNotations refuses any signature with a critical
// notation. A fresh value per call keeps the package free of shared state.
func signaturePolicy() *packet.Config {
	return &packet.Config{
		RejectHashAlgorithms: map[crypto.Hash]bool{crypto.MD5: true, crypto.RIPEMD160: true},
	}
}

// signingConfig is the go-crypto configuration for signatures this package
// makes. The salt notation go-crypto adds by default protects EdDSA/ECDSA
// signers against fault attacks; RSA PKCS#1 v1.5 does not need it, and a
// certification without it is byte-for-byte what gpg would make.
func signingConfig() *packet.Config {
	noNotation := false
	return &packet.Config{DefaultHash: crypto.SHA256, NonDeterministicSignaturesViaNotation: &noNotation}
}

// dearmor returns the binary packets of a ring given armored or binary,
// of at most limit bytes. wantType is the armor block type required when
// the input is armored.
func dearmor(data []byte, wantType string, limit int) ([]byte, error) {
	if len(data) == 0 {
		return nil, refuse(ErrMalformed, "empty input", nil)
	}
	if len(data) > limit {
		return nil, refuse(ErrMalformed, fmt.Sprintf("%d bytes, limit %d", len(data), limit), nil)
	}
	if !isArmored(data) {
		return data, nil
	}
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, refuse(ErrMalformed, "bad armor", err)
	}
	if block.Type != wantType {
		return nil, refuse(ErrMalformed, fmt.Sprintf("armor block %q, want %q", block.Type, wantType), nil)
	}
	bin, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, refuse(ErrMalformed, "bad armor", err)
	}
	return bin, nil
}

// isArmored tells armored input from binary packets: a binary packet starts
// with a byte that has its top bit set, never with an armor header line.
func isArmored(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN "))
}

// readEntity parses exactly one v4 OpenPGP key from binary packets.
func readEntity(bin []byte) (*openpgp.Entity, error) {
	packets := packet.NewReader(bytes.NewReader(bin))
	e, err := openpgp.ReadEntity(packets)
	if err != nil {
		return nil, refuse(ErrMalformed, "unreadable key", err)
	}
	switch p, err := packets.Next(); {
	case err == io.EOF:
	case err != nil:
		return nil, refuse(ErrMalformed, "trailing data after the key", err)
	default:
		return nil, refuse(ErrMalformed, fmt.Sprintf("more than one key in the ring (next packet %T)", p), nil)
	}
	if e.PrimaryKey.Version != 4 {
		return nil, refuse(ErrUnsupportedKey, fmt.Sprintf("OpenPGP v%d key; only v4 keys are supported", e.PrimaryKey.Version), nil)
	}
	return e, nil
}

// readUserRing parses a user's public key ring, within the bounds on size
// and signature count.
func readUserRing(data []byte) (*openpgp.Entity, []byte, error) {
	e, bin, err := readPublicRing(data, MaxRingSize)
	if err != nil {
		return nil, nil, err
	}
	n := len(e.Revocations) + len(e.DirectSignatures)
	for _, ident := range e.Identities {
		n += len(ident.SelfCertifications) + len(ident.OtherCertifications) + len(ident.Revocations)
	}
	if n > maxKeySignatures {
		return nil, nil, refuse(ErrMalformed, fmt.Sprintf("%d signatures on the master key, limit %d", n, maxKeySignatures), nil)
	}
	return e, bin, nil
}

// readPublicRing parses a public key ring and refuses secret key material:
// the ring is stored and handed to other users as is.
func readPublicRing(data []byte, limit int) (*openpgp.Entity, []byte, error) {
	bin, err := dearmor(data, openpgp.PublicKeyType, limit)
	if err != nil {
		return nil, nil, err
	}
	e, err := readEntity(bin)
	if err != nil {
		return nil, nil, err
	}
	if e.PrivateKey != nil || slices.ContainsFunc(e.Subkeys, func(s openpgp.Subkey) bool { return s.PrivateKey != nil }) {
		return nil, nil, refuse(ErrMalformed, "ring holds secret key material", nil)
	}
	return e, bin, nil
}

// serializePublic writes the public part of e in a stable order (user IDs
// sorted by name; go-crypto's own Serialize follows map order).
func serializePublic(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	if err := e.PrimaryKey.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("keyring: serialize primary key: %w", err)
	}
	for _, sig := range slices.Concat(e.Revocations, e.DirectSignatures) {
		if err := sig.Packet.Serialize(&buf); err != nil {
			return nil, fmt.Errorf("keyring: serialize key signature: %w", err)
		}
	}
	for _, ident := range sortedIdentities(e) {
		if err := ident.Serialize(&buf); err != nil {
			return nil, fmt.Errorf("keyring: serialize user ID %q: %w", ident.Name, err)
		}
	}
	for i := range e.Subkeys {
		if err := e.Subkeys[i].Serialize(&buf, false); err != nil {
			return nil, fmt.Errorf("keyring: serialize subkey: %w", err)
		}
	}
	return buf.Bytes(), nil
}

func sortedIdentities(e *openpgp.Entity) []*openpgp.Identity {
	idents := make([]*openpgp.Identity, 0, len(e.Identities))
	for _, ident := range e.Identities {
		idents = append(idents, ident)
	}
	slices.SortFunc(idents, func(a, b *openpgp.Identity) int { return strings.Compare(a.Name, b.Name) })
	return idents
}

func armorBytes(blockType string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		return nil, fmt.Errorf("keyring: armor: %w", err)
	}
	if _, err := w.Write(bin); err != nil {
		return nil, fmt.Errorf("keyring: armor: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("keyring: armor: %w", err)
	}
	return buf.Bytes(), nil
}

// fingerprint is the key's fingerprint in upper-case hex, the form Kontalk
// clients and servers store and compare.
func fingerprint(pk *packet.PublicKey) string {
	return strings.ToUpper(hex.EncodeToString(pk.Fingerprint))
}

// masterPublicKey converts a master key to the standard library type that
// crypto/tls and crypto/x509 use for the bridge certificate.
func masterPublicKey(pk *packet.PublicKey) (crypto.PublicKey, error) {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		k, ok := pk.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, refuse(ErrMalformed, fmt.Sprintf("RSA key holds %T", pk.PublicKey), nil)
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, refuse(ErrUnsupportedKey, fmt.Sprintf("RSA master key of %d bits; %d to %d accepted", bits, minRSABits, maxRSABits), nil)
		}
		return k, nil
	case packet.PubKeyAlgoDSA:
		return nil, refuse(ErrUnsupportedKey, "DSA master keys are not supported", nil)
	case packet.PubKeyAlgoECDSA:
		k, ok := pk.PublicKey.(*gcecdsa.PublicKey)
		if !ok {
			return nil, refuse(ErrMalformed, fmt.Sprintf("ECDSA key holds %T", pk.PublicKey), nil)
		}
		curveName, err := pk.Curve()
		if err != nil {
			return nil, refuse(ErrUnsupportedKey, "ECDSA master key on an unknown curve", err)
		}
		if curveName != packet.CurveNistP256 {
			return nil, refuse(ErrUnsupportedKey, fmt.Sprintf("ECDSA master key on curve %s; only P256 is accepted", curveName), nil)
		}
		std, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.MarshalPoint())
		if err != nil {
			return nil, refuse(ErrMalformed, "bad ECDSA point", err)
		}
		return std, nil
	case packet.PubKeyAlgoEdDSA:
		k, ok := pk.PublicKey.(*eddsa.PublicKey)
		if !ok {
			return nil, refuse(ErrMalformed, fmt.Sprintf("EdDSA key holds %T", pk.PublicKey), nil)
		}
		if curveName, err := pk.Curve(); err != nil || curveName != packet.Curve25519 || len(k.X) != ed25519.PublicKeySize {
			return nil, refuse(ErrUnsupportedKey, "EdDSA master key not on Ed25519", err)
		}
		return ed25519.PublicKey(bytes.Clone(k.X)), nil
	case packet.PubKeyAlgoEd25519:
		k, ok := pk.PublicKey.(*gced25519.PublicKey)
		if !ok || len(k.Point) != ed25519.PublicKeySize {
			return nil, refuse(ErrMalformed, "bad Ed25519 key", nil)
		}
		return ed25519.PublicKey(bytes.Clone(k.Point)), nil
	default:
		return nil, refuse(ErrUnsupportedKey, fmt.Sprintf("master key algorithm %d", pk.PubKeyAlgo), nil)
	}
}

// checkSignature applies the policy to a self-signature or certification
// before its cryptographic check: hash, critical notations, and creation
// and expiry times. go-crypto's Identity and Entity methods do the same
// internally; certifications by third parties have no such method.
func checkSignature(sig *packet.Signature, policy *packet.Config, now time.Time) error {
	if policy.RejectHashAlgorithm(sig.Hash) {
		return fmt.Errorf("insecure hash %v", sig.Hash)
	}
	for _, n := range sig.Notations {
		if n.IsCritical && !policy.KnownNotation(n.Name) {
			return fmt.Errorf("unknown critical notation %q", n.Name)
		}
	}
	if sig.CreationTime.After(now.Add(MaxClockSkew)) {
		return fmt.Errorf("made in the future (%s)", sig.CreationTime.UTC().Format(time.RFC3339))
	}
	if sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0 {
		if end := sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second); now.After(end) {
			return fmt.Errorf("expired at %s", end.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// keyExpiry is when a key expires according to the signature carrying its
// lifetime, or the zero time when it does not expire.
func keyExpiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

// hasValidRevocation reports whether e carries a key revocation signature
// (type 0x20) by its own primary key that verifies, whatever its reason and
// date.
func hasValidRevocation(e *openpgp.Entity, policy *packet.Config) bool {
	for _, rev := range e.Revocations {
		if !policy.RejectHashAlgorithm(rev.Packet.Hash) && e.PrimaryKey.VerifyRevocationSignature(rev.Packet) == nil {
			return true
		}
	}
	return false
}
