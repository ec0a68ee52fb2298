package keyring

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Identity is a user key that passed [Verify] (or [Inspect]).
type Identity struct {
	// JID is the user's bare JID, localpart@domain.
	JID string
	// Localpart is the lower-case hex SHA-1 of the user's phone number.
	Localpart string
	// Fingerprint is the master key's fingerprint, upper-case hex (40
	// characters for the v4 keys accepted here).
	Fingerprint string
	// Created is the master key's creation time (key rollover compares it).
	Created time.Time
	// PublicKey is the master public key: *rsa.PublicKey,
	// *ecdsa.PublicKey or ed25519.PublicKey. The bridge certificate must
	// carry this key.
	PublicKey crypto.PublicKey
	// Ring is the key ring in binary form (de-armored if it came armored),
	// a copy of the caller's bytes.
	Ring []byte
	// CertifiedBy is the fingerprint of the trusted server key whose
	// certification was accepted; empty from Inspect.
	CertifiedBy string
}

// claim is a parsed user key whose self-consistency has been checked.
type claim struct {
	entity   *openpgp.Entity
	identity *Identity
	// uids are the user IDs in the domain with a valid self-signature,
	// sorted by name; all name identity.Localpart.
	uids []*openpgp.Identity
}

// Inspect checks everything [Verify] checks except the server's
// certification: the ring parses, its master key is supported, not revoked
// and not expired, and exactly one phone-number-hash user in domain is
// named by user IDs with valid self-signatures. Registration uses it to
// learn which JID a key claims before checking the verification code and
// certifying it.
func Inspect(ring []byte, domain string, now time.Time) (_ *Identity, err error) {
	defer recoverParser(&err)
	c, err := inspect(ring, domain, now)
	if err != nil {
		return nil, err
	}
	return c.identity, nil
}

// Verify checks that ring (armored or binary) is a user key certified for
// domain by a key in trusted, and returns the identity it proves. domain is
// the network domain in its normalized form; the user ID's domain is
// compared case-insensitively and the JID is built with domain as given.
// now is the time the key, its signatures and the certification must be
// valid at. Every refusal of the ring is an *[Error] whose Reason tells
// which check failed; an empty domain or trust set is a plain error.
func Verify(ring []byte, domain string, trusted *Trust, now time.Time) (_ *Identity, err error) {
	defer recoverParser(&err)
	if trusted == nil || len(trusted.keys) == 0 {
		return nil, errors.New("keyring: verify: no trusted server keys")
	}
	c, err := inspect(ring, domain, now)
	if err != nil {
		return nil, err
	}
	certifier, err := trusted.findCertification(c, now)
	if err != nil {
		return nil, err
	}
	c.identity.CertifiedBy = certifier
	return c.identity, nil
}

// IsNewer reports whether newer's master key was created after older's. A
// logged-in user whose stored fingerprint differs is accepted only with a
// newer key (Kontalk key rollover).
func IsNewer(newer, older *Identity) bool {
	return newer != nil && older != nil && newer.Created.After(older.Created)
}

func inspect(ring []byte, domain string, now time.Time) (*claim, error) {
	if domain == "" {
		return nil, errors.New("keyring: empty network domain")
	}
	e, bin, err := readUserRing(ring)
	if err != nil {
		return nil, err
	}
	keyID := e.PrimaryKey.KeyIdString()
	pub, err := masterPublicKey(e.PrimaryKey)
	if err != nil {
		return nil, err
	}
	policy := signaturePolicy()
	if hasValidRevocation(e, policy) {
		return nil, refuse(ErrKeyRevoked, "key "+keyID, nil)
	}

	// go-crypto rejects signatures dated after the date it is given, so it
	// is given now plus the allowed skew; expiry is checked against now.
	at := now.Add(MaxClockSkew)
	primarySig, _ := e.PrimaryIdentity(at, policy)
	if primarySig == nil {
		return nil, refuse(ErrSelfSignature, "key "+keyID+" has no user ID with a valid self-signature", nil)
	}
	if end := keyExpiry(e.PrimaryKey, primarySig); !end.IsZero() && now.After(end) {
		return nil, refuse(ErrKeyExpired, fmt.Sprintf("key %s expired at %s", keyID, end.UTC().Format(time.RFC3339)), nil)
	}
	if direct, _ := e.LatestValidDirectSignature(at, policy); direct != nil {
		if end := keyExpiry(e.PrimaryKey, direct); !end.IsZero() && now.After(end) {
			return nil, refuse(ErrKeyExpired, fmt.Sprintf("key %s expired at %s", keyID, end.UTC().Format(time.RFC3339)), nil)
		}
	}

	c := &claim{entity: e}
	var inDomain int
	var badLocalpart string
	var selfSigErr error
	for _, ident := range sortedIdentities(e) {
		local, host, ok := strings.Cut(ident.UserId.Email, "@")
		if !ok || !strings.EqualFold(host, domain) {
			continue
		}
		inDomain++
		if !isPhoneHash(local) {
			badLocalpart = local
			continue
		}
		if _, err := ident.Verify(at, policy); err != nil {
			selfSigErr = fmt.Errorf("user ID %q: %w", ident.Name, err)
			continue
		}
		if c.identity != nil && c.identity.Localpart != local {
			return nil, refuse(ErrAmbiguousUID, fmt.Sprintf("key %s names %s and %s", keyID, c.identity.Localpart, local), nil)
		}
		if c.identity == nil {
			c.identity = &Identity{
				JID:         local + "@" + domain,
				Localpart:   local,
				Fingerprint: fingerprint(e.PrimaryKey),
				Created:     e.PrimaryKey.CreationTime,
				PublicKey:   pub,
				Ring:        bytes.Clone(bin),
			}
		}
		c.uids = append(c.uids, ident)
	}
	switch {
	case c.identity != nil:
		return c, nil
	case inDomain == 0:
		return nil, refuse(ErrNoDomainUID, fmt.Sprintf("key %s has no user ID @%s", keyID, domain), nil)
	case selfSigErr != nil:
		return nil, refuse(ErrSelfSignature, "key "+keyID, selfSigErr)
	default:
		return nil, refuse(ErrBadLocalpart, fmt.Sprintf("key %s: local part %q", keyID, badLocalpart), nil)
	}
}

// isPhoneHash reports whether s is 40 lower-case hex digits.
func isPhoneHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// findCertification returns the fingerprint of a trusted server key that
// validly certified one of the claim's user IDs (signature types
// 0x10–0x13; the Tigase server accepted 0x10 and 0x12, gpg's default
// certification is 0x10). When several did, the key listed first in the
// Trust wins, so CertifiedBy names the current key once a ring has been
// re-certified with it.
func (t *Trust) findCertification(c *claim, now time.Time) (string, error) {
	policy := signaturePolicy()
	best := -1
	var revokedBy string
	var invalid error
	for _, ident := range c.uids {
		for _, vs := range ident.OtherCertifications {
			sig := vs.Packet
			if sig.SigType < packet.SigTypeGenericCert || sig.SigType > packet.SigTypePositiveCert {
				continue
			}
			i := t.issuer(sig)
			if i < 0 || (best >= 0 && i >= best) {
				continue
			}
			key := t.keys[i]
			if err := key.checkCertification(ident.Name, c.entity.PrimaryKey, sig, policy, now); err != nil {
				invalid = fmt.Errorf("certification by %s: %w", key.fingerprint, err)
				continue
			}
			if key.revoked {
				revokedBy = key.fingerprint
				continue
			}
			best = i
		}
	}
	keyID := c.entity.PrimaryKey.KeyIdString()
	switch {
	case best >= 0:
		return t.keys[best].fingerprint, nil
	case revokedBy != "":
		return "", refuse(ErrServerKeyRevoked, fmt.Sprintf("key %s certified by revoked server key %s", keyID, revokedBy), nil)
	case invalid != nil:
		return "", refuse(ErrNotCertified, "key "+keyID, invalid)
	default:
		return "", refuse(ErrNotCertified, fmt.Sprintf("key %s carries no certification by trusted keys %s", keyID, strings.Join(t.Fingerprints(), ", ")), nil)
	}
}

// checkCertification checks sig, by k, over the user ID name of the key pk.
func (k *ServerPublicKey) checkCertification(name string, pk *packet.PublicKey, sig *packet.Signature, policy *packet.Config, now time.Time) error {
	if err := checkSignature(sig, policy, now); err != nil {
		return err
	}
	if sig.CreationTime.Before(k.pk.CreationTime) {
		return errors.New("made before the server key existed")
	}
	if !k.expires.IsZero() && sig.CreationTime.After(k.expires) {
		return errors.New("made after the server key expired")
	}
	return k.pk.VerifyUserIdSignature(name, pk, sig)
}
