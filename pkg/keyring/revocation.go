package keyring

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// VerifyRevocation checks the old key a client sends when it replaces its
// key (the `revoked` field of the register#key form): revokedRing,
// armored or binary, must hold a master key whose fingerprint is
// expectedFingerprint (compared case-insensitively; the stored one is
// upper-case hex) and which carries a valid key revocation signature (type
// 0x20) by itself. The ring need not have user IDs: the Android client
// sends the revoked master key as Bouncy Castle encodes it.
func VerifyRevocation(revokedRing []byte, expectedFingerprint string) (err error) {
	defer recoverParser(&err)
	bin, err := dearmor(revokedRing, openpgp.PublicKeyType, MaxRingSize)
	if err != nil {
		return err
	}
	packets := packet.NewReader(bytes.NewReader(bin))
	first, err := packets.Next()
	if err != nil {
		return refuse(ErrMalformed, "unreadable key", err)
	}
	pk, ok := first.(*packet.PublicKey)
	if !ok || pk.IsSubkey {
		return refuse(ErrMalformed, fmt.Sprintf("ring starts with %T, want a public master key", first), nil)
	}
	if fpr := fingerprint(pk); !strings.EqualFold(fpr, expectedFingerprint) {
		return refuse(ErrFingerprintMismatch, fmt.Sprintf("revoked key is %s, stored key is %s", fpr, expectedFingerprint), nil)
	}
	policy := signaturePolicy()
	for checked := 0; checked < maxKeySignatures; {
		p, err := packets.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return refuse(ErrMalformed, "unreadable packet after the master key", err)
		}
		if next, ok := p.(*packet.PublicKey); ok && !next.IsSubkey {
			break // the next key's packets do not concern this one
		}
		sig, ok := p.(*packet.Signature)
		if !ok || sig.SigType != packet.SigTypeKeyRevocation || policy.RejectHashAlgorithm(sig.Hash) {
			continue
		}
		checked++
		if pk.VerifyRevocationSignature(sig) == nil {
			return nil
		}
	}
	return refuse(ErrNotRevoked, "key "+pk.KeyIdString()+" has no valid revocation signature", nil)
}
