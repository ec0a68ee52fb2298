package keyring_test

import (
	"bytes"
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
)

// revocationSig is a key revocation of pk made with signer, without a
// reason subpacket, like Bouncy Castle's in the Android client.
func revocationSig(t *testing.T, pk *packet.PublicKey, signer *packet.PrivateKey) *packet.Signature {
	t.Helper()
	rev := &packet.Signature{
		Version: 4, SigType: packet.SigTypeKeyRevocation, PubKeyAlgo: signer.PubKeyAlgo, Hash: crypto.SHA256,
		CreationTime: testNow.Add(-time.Minute), IssuerKeyId: &signer.KeyId,
	}
	if err := rev.RevokeKey(pk, signer, &packet.Config{NonDeterministicSignaturesViaNotation: new(bool)}); err != nil {
		t.Fatal(err)
	}
	return rev
}

// androidRevokedKey encodes a master key the way Bouncy Castle's
// PGPPublicKey.getEncoded does after PGP.revokeKey: the key packet, its
// revocation, then (unless withoutUID) its user IDs with their signatures.
func androidRevokedKey(t *testing.T, e *openpgp.Entity, rev *packet.Signature, withoutUID bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.PrimaryKey.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	if err := rev.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	if !withoutUID {
		for _, ident := range e.Identities {
			if err := ident.Serialize(&buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.Bytes()
}

func TestVerifyRevocation(t *testing.T) {
	android := readSecretFixture(t, "android.pgp-secret.asc")
	legacy := readSecretFixture(t, "legacy.pgp-secret.asc")
	fpr := fixtures[0].fpr
	rev := revocationSig(t, android.PrimaryKey, android.PrivateKey)
	revokedRing := androidRevokedKey(t, android, rev, false)

	ok := []struct {
		name string
		ring []byte
		fpr  string
	}{
		{"android encoding", revokedRing, fpr},
		{"lower-case fingerprint", revokedRing, strings.ToLower(fpr)},
		{"no user ID", androidRevokedKey(t, android, rev, true), fpr},
		{"armored", armorRing(t, openpgp.PublicKeyType, revokedRing), fpr},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			if err := keyring.VerifyRevocation(tc.ring, tc.fpr); err != nil {
				t.Errorf("VerifyRevocation: %v", err)
			}
		})
	}

	refused := []struct {
		name string
		ring []byte
		fpr  string
		want keyring.Reason
	}{
		{"not revoked", readFile(t, "android.pgp-public.bin"), fpr, keyring.ErrNotRevoked},
		{"another key", revokedRing, fixtures[1].fpr, keyring.ErrFingerprintMismatch},
		{"revocation made by another key", androidRevokedKey(t, android, revocationSig(t, android.PrimaryKey, legacy.PrivateKey), false), fpr, keyring.ErrNotRevoked},
		{"revocation of another key", androidRevokedKey(t, android, revocationSig(t, legacy.PrimaryKey, legacy.PrivateKey), false), fpr, keyring.ErrNotRevoked},
		{"secret key", readFile(t, "android.pgp-secret.asc"), fpr, keyring.ErrMalformed},
		{"garbage", []byte{0x99, 0x01}, fpr, keyring.ErrMalformed},
		{"empty", nil, fpr, keyring.ErrMalformed},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			wantReason(t, keyring.VerifyRevocation(tc.ring, tc.fpr), tc.want)
		})
	}
}

// TestKeyRollover walks the register#key exchange: the client revokes its
// certified key and presents a new one; the server checks the revocation
// against the stored fingerprint, certifies the new key and accepts it at
// login because it is newer.
func TestKeyRollover(t *testing.T) {
	srv := serverKey(t, 0)
	tr := trust(t, srv.Public())
	hash := strings.Repeat("5a", 20)
	oldKey := newUserKey(t, hash, domain, keytest.Options{Created: testNow.Add(-10 * 24 * time.Hour)})
	oldSigned := certify(t, srv, oldKey.PublicRing, testNow.Add(-9*24*time.Hour))
	oldID, err := keyring.Verify(oldSigned, domain, tr, testNow)
	if err != nil {
		t.Fatal(err)
	}

	newKey := newUserKey(t, hash, domain, keytest.Options{Created: testNow.Add(-time.Minute)})
	revoked, err := oldKey.Revoke(oldSigned, testNow.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.VerifyRevocation(revoked, oldID.Fingerprint); err != nil {
		t.Fatalf("VerifyRevocation: %v", err)
	}
	if err := keyring.VerifyRevocation(revoked, mustInspect(t, newKey.PublicRing).Fingerprint); err == nil {
		t.Error("revocation accepted for the new key's fingerprint")
	}
	_, err = keyring.Verify(revoked, domain, tr, testNow)
	wantReason(t, err, keyring.ErrKeyRevoked)

	newID, err := keyring.Verify(certify(t, srv, newKey.PublicRing, testNow), domain, tr, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if newID.JID != oldID.JID || newID.Fingerprint == oldID.Fingerprint {
		t.Errorf("new identity %s %s, old %s %s", newID.JID, newID.Fingerprint, oldID.JID, oldID.Fingerprint)
	}
	if !keyring.IsNewer(newID, oldID) {
		t.Error("new key is not newer than the old one")
	}
}

func mustInspect(t *testing.T, ring []byte) *keyring.Identity {
	t.Helper()
	id, err := keyring.Inspect(ring, domain, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
