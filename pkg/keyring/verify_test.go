package keyring_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
)

func TestCertifyVerifyFixtures(t *testing.T) {
	srv := serverKey(t, 0)
	tr := trust(t, srv.Public())
	for _, fx := range fixtures {
		for _, armored := range []bool{false, true} {
			name := fx.name
			if armored {
				name += "/armored"
			}
			t.Run(name, func(t *testing.T) {
				ring := readFile(t, fx.file)
				if armored {
					ring = armorRing(t, openpgp.PublicKeyType, ring)
				}
				signed := certify(t, srv, ring, testNow.Add(-time.Hour))
				id, err := keyring.Verify(signed, domain, tr, testNow)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.JID != fx.jid || id.Localpart != fx.localpart || id.Fingerprint != fx.fpr {
					t.Errorf("identity %s %s %s, want %s %s %s", id.JID, id.Localpart, id.Fingerprint, fx.jid, fx.localpart, fx.fpr)
				}
				if !id.Created.Equal(time.Unix(fx.created, 0)) {
					t.Errorf("created %v, want %v", id.Created, time.Unix(fx.created, 0))
				}
				if id.CertifiedBy != srv.Fingerprint() {
					t.Errorf("certified by %s, want %s", id.CertifiedBy, srv.Fingerprint())
				}
				if !bytes.Equal(id.Ring, signed) {
					t.Error("Identity.Ring is not the verified ring")
				}
				pub, ok := id.PublicKey.(*rsa.PublicKey)
				if !ok || pub.N.BitLen() != 2048 {
					t.Errorf("public key %T, want a 2048-bit *rsa.PublicKey", id.PublicKey)
				}
				// The certified ring is the client's ring plus one signature.
				if len(signed) <= len(readFile(t, fx.file)) {
					t.Errorf("signed ring %d bytes, not longer than the input", len(signed))
				}
			})
		}
	}
}

func TestVerifyGPGCertification(t *testing.T) {
	gpgServer, err := keyring.ParseServerPublicKey(readFile(t, "gpg-server.pub.asc"))
	if err != nil {
		t.Fatal(err)
	}
	const gpgFpr = "D1773D60FE807D00B03FD21952A9A274258589D8"
	if gpgServer.Fingerprint() != gpgFpr {
		t.Fatalf("gpg server fingerprint %s, want %s", gpgServer.Fingerprint(), gpgFpr)
	}
	id, err := keyring.Verify(readFile(t, "android.gpg-certified.bin"), domain, trust(t, serverKey(t, 0).Public(), gpgServer), testNow)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.CertifiedBy != gpgFpr || id.JID != fixtures[0].jid {
		t.Errorf("got %s certified by %s", id.JID, id.CertifiedBy)
	}
}

// TestClockSkew: a certification made by a host whose clock is ahead is
// accepted within MaxClockSkew.
func TestClockSkew(t *testing.T) {
	srv := serverKey(t, 0)
	signed := certify(t, srv, readFile(t, "android.pgp-public.bin"), testNow)
	tr := trust(t, srv.Public())
	if _, err := keyring.Verify(signed, domain, tr, testNow.Add(-keyring.MaxClockSkew+time.Hour)); err != nil {
		t.Errorf("certification from a clock ahead by less than MaxClockSkew: %v", err)
	}
	_, err := keyring.Verify(signed, domain, tr, testNow.Add(-keyring.MaxClockSkew-time.Hour))
	wantReason(t, err, keyring.ErrNotCertified)
	if !strings.Contains(err.Error(), "made in the future") {
		t.Errorf("refusal does not say why: %v", err)
	}
}

func TestVerifyKeytestLayouts(t *testing.T) {
	srv := serverKey(t, 0)
	for _, legacy := range []bool{false, true} {
		k := newUserKey(t, strings.Repeat("a1", 20), domain, keytest.Options{Legacy: legacy, Created: testNow.Add(-time.Hour)})
		wantSubkeys := 2
		if legacy {
			wantSubkeys = 0
		}
		if len(k.Entity.Subkeys) != wantSubkeys {
			t.Fatalf("legacy=%v: %d subkeys, want %d", legacy, len(k.Entity.Subkeys), wantSubkeys)
		}
		id, err := keyring.Verify(certify(t, srv, k.PublicRing, testNow), domain, trust(t, srv.Public()), testNow)
		if err != nil {
			t.Fatalf("legacy=%v: Verify: %v", legacy, err)
		}
		if !k.Signer.PublicKey.Equal(id.PublicKey) {
			t.Errorf("legacy=%v: identity public key is not the master key", legacy)
		}
		if id.JID != strings.Repeat("a1", 20)+"@"+domain {
			t.Errorf("legacy=%v: JID %s", legacy, id.JID)
		}
	}
}

// tamperSelfSignature flips the last byte of the user ID self-signature.
func tamperSelfSignature(t *testing.T, ring []byte) []byte {
	t.Helper()
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(ring)))
	if err != nil {
		t.Fatal(err)
	}
	var sig bytes.Buffer
	for _, ident := range e.Identities {
		if err := ident.SelfCertifications[0].Packet.Serialize(&sig); err != nil {
			t.Fatal(err)
		}
	}
	i := bytes.Index(ring, sig.Bytes())
	if i < 0 {
		t.Fatal("self-signature not found in ring")
	}
	out := bytes.Clone(ring)
	out[i+sig.Len()-1] ^= 0x01
	return out
}

// addUserID adds a self-signed user ID to k and returns its public ring.
func addUserID(t *testing.T, k *keytest.UserKey, name, email string) []byte {
	t.Helper()
	cfg := &packet.Config{Time: func() time.Time { return testNow.Add(-time.Hour) }}
	if err := k.Entity.AddUserId(name, "", email, cfg); err != nil {
		t.Fatal(err)
	}
	var ring bytes.Buffer
	if err := k.Entity.Serialize(&ring); err != nil {
		t.Fatal(err)
	}
	return ring.Bytes()
}

func TestVerifyRefusals(t *testing.T) {
	srvA, srvB := serverKey(t, 0), serverKey(t, 1)
	trustA := trust(t, srvA.Public())
	hash := strings.Repeat("0123456789", 4)
	created := testNow.Add(-48 * time.Hour)

	expiring := newUserKey(t, hash, domain, keytest.Options{Created: created, Lifetime: 24 * time.Hour})
	revocable := newUserKey(t, hash, domain, keytest.Options{Created: created})
	revokedRing, err := revocable.Revoke(certify(t, srvA, revocable.PublicRing, testNow), testNow)
	if err != nil {
		t.Fatal(err)
	}
	ambiguous := addUserID(t, newUserKey(t, hash, domain, keytest.Options{Created: created}), "Other", strings.Repeat("f", 40)+"@"+domain)
	crowded := newUserKey(t, hash, domain, keytest.Options{Created: created})
	var crowdedRing []byte
	for i := range 8 {
		crowdedRing = addUserID(t, crowded, "Alias", fmt.Sprintf("alias%d@elsewhere.test", i))
	}
	twoKeys := append(bytes.Clone(readFile(t, "android.pgp-public.bin")), readFile(t, "legacy.pgp-public.bin")...)
	android := readFile(t, "android.pgp-public.bin")

	tests := []struct {
		name string
		ring []byte
		want keyring.Reason
	}{
		{"empty", nil, keyring.ErrMalformed},
		{"garbage", []byte("this is not a key ring"), keyring.ErrMalformed},
		{"truncated", certify(t, srvA, android, testNow)[:700], keyring.ErrMalformed},
		{"two keys", twoKeys, keyring.ErrMalformed},
		{"secret ring", readFile(t, "android.pgp-secret.asc"), keyring.ErrMalformed},
		{"armored message block", armorRing(t, "PGP MESSAGE", android), keyring.ErrMalformed},
		{"oversized", make([]byte, keyring.MaxRingSize+1), keyring.ErrMalformed},
		{"too many signatures", crowdedRing, keyring.ErrMalformed},
		{"DSA master key", readFile(t, "dsa.gpg-public.bin"), keyring.ErrUnsupportedKey},
		{"never certified", android, keyring.ErrNotCertified},
		{"certified by another server", certify(t, srvB, android, testNow), keyring.ErrNotCertified},
		{"revoked after certification", revokedRing, keyring.ErrKeyRevoked},
		{"expired", certify(t, srvA, expiring.PublicRing, created.Add(time.Hour)), keyring.ErrKeyExpired},
		{"user ID in another domain", newUserKey(t, hash, "other.test", keytest.Options{}).PublicRing, keyring.ErrNoDomainUID},
		{"local part not a hash", newUserKey(t, "alice", domain, keytest.Options{}).PublicRing, keyring.ErrBadLocalpart},
		{"upper-case hash", newUserKey(t, strings.ToUpper(fixtures[0].localpart), domain, keytest.Options{}).PublicRing, keyring.ErrBadLocalpart},
		{"two users", ambiguous, keyring.ErrAmbiguousUID},
		{"bad self-signature", tamperSelfSignature(t, certify(t, srvA, android, testNow)), keyring.ErrSelfSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := keyring.Verify(tc.ring, domain, trustA, testNow)
			if id != nil {
				t.Errorf("got identity %s", id.JID)
			}
			wantReason(t, err, tc.want)
			if tc.want != keyring.ErrNotCertified {
				// Certification is the last check: Inspect and Certify
				// refuse for the same reason.
				_, err := keyring.Inspect(tc.ring, domain, testNow)
				wantReason(t, err, tc.want)
				_, err = srvA.Certify(tc.ring, domain, testNow)
				wantReason(t, err, tc.want)
			}
		})
	}

	t.Run("certified for another domain", func(t *testing.T) {
		k := newUserKey(t, hash, "other.test", keytest.Options{})
		signed, err := srvA.Certify(k.PublicRing, "other.test", testNow)
		if err != nil {
			t.Fatal(err)
		}
		_, err = keyring.Verify(signed, domain, trustA, testNow)
		wantReason(t, err, keyring.ErrNoDomainUID)
	})
	t.Run("DSA reason text", func(t *testing.T) {
		_, err := keyring.Verify(readFile(t, "dsa.gpg-public.bin"), domain, trustA, testNow)
		if err == nil || !strings.Contains(err.Error(), "DSA master keys are not supported") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no trust", func(t *testing.T) {
		if _, err := keyring.Verify(android, domain, nil, testNow); err == nil {
			t.Error("Verify with a nil trust set succeeded")
		}
	})
}

func TestServerKeyRotation(t *testing.T) {
	oldKey, newKey := serverKey(t, 0), serverKey(t, 1)
	ring := readFile(t, "android.pgp-public.bin")
	signedByOld := certify(t, oldKey, ring, testNow.Add(-24*time.Hour))

	// During the rotation both keys are trusted: old certifications keep
	// working, and the new key certifies.
	both := trust(t, newKey.Public(), oldKey.Public())
	id, err := keyring.Verify(signedByOld, domain, both, testNow)
	if err != nil {
		t.Fatalf("old certification with both keys trusted: %v", err)
	}
	if id.CertifiedBy != oldKey.Fingerprint() {
		t.Errorf("certified by %s, want the old key", id.CertifiedBy)
	}
	signedByBoth := certify(t, newKey, signedByOld, testNow)
	if id, err := keyring.Verify(signedByBoth, domain, both, testNow); err != nil || id.CertifiedBy != newKey.Fingerprint() {
		t.Errorf("re-certified ring: %v, certified by %v; want the new key (listed first)", err, id)
	}

	// Once the old key is dropped, only re-certified rings pass.
	onlyNew := trust(t, newKey.Public())
	_, err = keyring.Verify(signedByOld, domain, onlyNew, testNow)
	wantReason(t, err, keyring.ErrNotCertified)
	if _, err := keyring.Verify(signedByBoth, domain, onlyNew, testNow); err != nil {
		t.Errorf("re-certified ring with only the new key: %v", err)
	}

	if _, err := keyring.NewTrust(); err == nil {
		t.Error("empty trust set accepted")
	}
	if _, err := keyring.NewTrust(oldKey.Public(), oldKey.Public()); err == nil {
		t.Error("duplicate key in trust set accepted")
	}
	if got := both.Fingerprints(); len(got) != 2 || got[0] != newKey.Fingerprint() || got[1] != oldKey.Fingerprint() {
		t.Errorf("Fingerprints() = %v", got)
	}
}

// revokeServerKey returns k's public key with a key revocation signature.
func revokeServerKey(t *testing.T, k *keyring.ServerKey) ([]byte, *keyring.ServerPublicKey) {
	t.Helper()
	priv, err := k.ArmoredPrivate()
	if err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(priv))
	if err != nil {
		t.Fatal(err)
	}
	e := el[0]
	if err := e.Revoke(packet.KeyRetired, "rotated", &packet.Config{Time: func() time.Time { return testNow.Add(-time.Hour) }}); err != nil {
		t.Fatal(err)
	}
	var pub, secret bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(&secret, nil); err != nil {
		t.Fatal(err)
	}
	revoked, err := keyring.ParseServerPublicKey(pub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return armorRing(t, openpgp.PrivateKeyType, secret.Bytes()), revoked
}

func TestServerKeyRevoked(t *testing.T) {
	srv := serverKey(t, 0)
	signed := certify(t, srv, readFile(t, "legacy.pgp-public.bin"), testNow.Add(-24*time.Hour))
	revokedPrivate, revoked := revokeServerKey(t, srv)
	if !revoked.Revoked() || srv.Public().Revoked() {
		t.Fatalf("Revoked() = %v for the revoked key, %v for the original", revoked.Revoked(), srv.Public().Revoked())
	}
	_, err := keyring.Verify(signed, domain, trust(t, revoked), testNow)
	wantReason(t, err, keyring.ErrServerKeyRevoked)

	_, err = keyring.LoadServerKey(revokedPrivate)
	wantReason(t, err, keyring.ErrServerKey)
}

func TestServerKeyRoundTrip(t *testing.T) {
	srv, err := keyring.GenerateServerKey("Kontalk Test", "server@kontalk.test", keyring.ServerKeyOptions{Created: testNow.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	fpr := srv.Fingerprint()
	if len(fpr) != 40 || strings.ToUpper(fpr) != fpr {
		t.Errorf("fingerprint %q is not 40 upper-case hex digits", fpr)
	}
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(srv.Public().Ring())))
	if err != nil {
		t.Fatal(err)
	}
	if bits, _ := e.PrimaryKey.BitLength(); e.PrimaryKey.PubKeyAlgo != packet.PubKeyAlgoRSA || bits != keyring.DefaultServerKeyBits {
		t.Errorf("server key algorithm %v, %d bits; want RSA %d", e.PrimaryKey.PubKeyAlgo, bits, keyring.DefaultServerKeyBits)
	}

	priv, err := srv.ArmoredPrivate()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := keyring.LoadServerKey(priv)
	if err != nil {
		t.Fatalf("LoadServerKey: %v", err)
	}
	if loaded.Fingerprint() != fpr {
		t.Errorf("loaded fingerprint %s, want %s", loaded.Fingerprint(), fpr)
	}
	pubArmored, err := srv.ArmoredPublic()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keyring.ParseServerPublicKey(pubArmored)
	if err != nil || pub.Fingerprint() != fpr {
		t.Fatalf("ParseServerPublicKey: %v", err)
	}
	// A key loaded from disk certifies what the generated key verifies.
	signed := certify(t, loaded, readFile(t, "android.pgp-public.bin"), testNow)
	if _, err := keyring.Verify(signed, domain, trust(t, pub), testNow); err != nil {
		t.Errorf("Verify after reload: %v", err)
	}
}

func TestLoadServerKeyRefusals(t *testing.T) {
	srv := serverKey(t, 0)
	priv, err := srv.ArmoredPrivate()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := srv.ArmoredPublic()
	if err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(priv))
	if err != nil {
		t.Fatal(err)
	}
	if err := el[0].EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	var encrypted bytes.Buffer
	if err := el[0].SerializePrivateWithoutSigning(&encrypted, nil); err != nil {
		t.Fatal(err)
	}
	ed, err := openpgp.NewEntity("Ed Server", "", "server@kontalk.test", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
	if err != nil {
		t.Fatal(err)
	}
	var edPriv bytes.Buffer
	if err := ed.SerializePrivate(&edPriv, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		in   []byte
		want keyring.Reason
	}{
		{"public key", pub, keyring.ErrMalformed},
		{"binary", encrypted.Bytes(), keyring.ErrServerKey},
		{"passphrase-protected", armorRing(t, openpgp.PrivateKeyType, encrypted.Bytes()), keyring.ErrServerKey},
		{"Ed25519", armorRing(t, openpgp.PrivateKeyType, edPriv.Bytes()), keyring.ErrServerKey},
		{"garbage", armorRing(t, openpgp.PrivateKeyType, []byte("garbage")), keyring.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.LoadServerKey(tc.in)
			wantReason(t, err, tc.want)
		})
	}
	if _, err := keyring.GenerateServerKey("x", "x@kontalk.test", keyring.ServerKeyOptions{RSABits: 1024}); err == nil {
		t.Error("1024-bit server key generated")
	}
}

// countCertifications counts certifications by fpr in ring.
func countCertifications(t *testing.T, ring []byte, fpr string) int {
	t.Helper()
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(ring)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ident := range e.Identities {
		for _, sig := range ident.OtherCertifications {
			if strings.EqualFold(hex.EncodeToString(sig.Packet.IssuerFingerprint), fpr) {
				if sig.Packet.SigType != packet.SigTypeGenericCert || sig.Packet.Hash != crypto.SHA256 {
					t.Errorf("certification type %#x hash %v, want 0x10 SHA-256", sig.Packet.SigType, sig.Packet.Hash)
				}
				n++
			}
		}
	}
	return n
}

func TestCertifyReplacesOwnCertification(t *testing.T) {
	srv, other := serverKey(t, 0), serverKey(t, 1)
	ring := certify(t, other, readFile(t, "android.pgp-public.bin"), testNow.Add(-2*time.Hour))
	once := certify(t, srv, ring, testNow.Add(-time.Hour))
	twice := certify(t, srv, once, testNow)
	if n := countCertifications(t, twice, srv.Fingerprint()); n != 1 {
		t.Errorf("%d certifications by the server after certifying twice, want 1", n)
	}
	if n := countCertifications(t, twice, other.Fingerprint()); n != 1 {
		t.Errorf("%d certifications by the other key, want it kept", n)
	}
	if !bytes.Equal(certify(t, srv, once, testNow), twice) {
		t.Error("certifying the same ring at the same time is not deterministic")
	}
}

// TestSHA1AndWeakHashes checks the signature policy against what old
// clients and servers made: SHA-1 self-signatures (Bouncy Castle) and SHA-1
// certifications (gpg 1.x) are accepted. go-crypto cannot make MD5
// signatures, and does not even parse them in v4 packets: an MD5
// certification (made here by patching the hash octet) counts as absent.
func TestSHA1AndWeakHashes(t *testing.T) {
	legacy := readSecretFixture(t, "legacy.pgp-secret.asc")
	ident := legacy.Identities["Fixture Legacy <abb3c6059bbe9f3772348ef38dbac1ded59695f7@kontalk.test>"]
	if ident == nil {
		t.Fatal("legacy fixture user ID not found")
	}
	noNotation := &packet.Config{NonDeterministicSignaturesViaNotation: new(bool)}
	// Re-make the self-signature with SHA-1, same contents otherwise.
	self := ident.SelfCertifications[0].Packet
	self.Hash = crypto.SHA1
	if err := self.SignUserId(ident.Name, legacy.PrimaryKey, legacy.PrivateKey, noNotation); err != nil {
		t.Fatal(err)
	}

	// An "old server" key certifying with SHA-1.
	oldServer, err := openpgp.NewEntity("Old Server", "", "server@kontalk.test", &packet.Config{
		Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048, Time: func() time.Time { return testNow.Add(-365 * 24 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var oldServerRing bytes.Buffer
	if err := oldServer.Serialize(&oldServerRing); err != nil {
		t.Fatal(err)
	}
	oldServerPub, err := keyring.ParseServerPublicKey(oldServerRing.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cert := &packet.Signature{
		Version: 4, SigType: packet.SigTypeGenericCert, PubKeyAlgo: packet.PubKeyAlgoRSA, Hash: crypto.SHA1,
		CreationTime: testNow.Add(-time.Hour), IssuerKeyId: &oldServer.PrimaryKey.KeyId,
	}
	if err := cert.SignUserId(ident.Name, legacy.PrimaryKey, oldServer.PrivateKey, noNotation); err != nil {
		t.Fatal(err)
	}
	ident.OtherCertifications = []*packet.VerifiableSignature{packet.NewVerifiableSig(cert)}
	var ring bytes.Buffer
	if err := legacy.Serialize(&ring); err != nil {
		t.Fatal(err)
	}
	tr := trust(t, oldServerPub)

	id, err := keyring.Verify(ring.Bytes(), domain, tr, testNow)
	if err != nil {
		t.Fatalf("SHA-1 self-signature and certification: %v", err)
	}
	if id.Fingerprint != fixtures[1].fpr || id.CertifiedBy != oldServerPub.Fingerprint() {
		t.Errorf("fingerprint %s certified by %s", id.Fingerprint, id.CertifiedBy)
	}

	var certBytes bytes.Buffer
	if err := cert.Serialize(&certBytes); err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(ring.Bytes(), certBytes.Bytes())
	if at < 0 || certBytes.Bytes()[1] < 192 || certBytes.Bytes()[1] >= 224 {
		t.Fatal("certification not found, or not with a two-octet length header")
	}
	md5 := bytes.Clone(ring.Bytes())
	md5[at+3+3] = 1 // header (3 octets), version, type, key algorithm, then the hash algorithm
	_, err = keyring.Verify(md5, domain, tr, testNow)
	wantReason(t, err, keyring.ErrNotCertified)
}

func TestIsNewer(t *testing.T) {
	srv := serverKey(t, 0)
	tr := trust(t, srv.Public())
	hash := strings.Repeat("ab", 20)
	old := newUserKey(t, hash, domain, keytest.Options{Created: testNow.Add(-72 * time.Hour)})
	cur := newUserKey(t, hash, domain, keytest.Options{Created: testNow.Add(-time.Hour)})
	oldID, err := keyring.Verify(certify(t, srv, old.PublicRing, testNow), domain, tr, testNow)
	if err != nil {
		t.Fatal(err)
	}
	curID, err := keyring.Verify(certify(t, srv, cur.PublicRing, testNow), domain, tr, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !keyring.IsNewer(curID, oldID) || keyring.IsNewer(oldID, curID) || keyring.IsNewer(curID, curID) {
		t.Error("IsNewer does not order keys by creation time")
	}
	if keyring.IsNewer(nil, oldID) || keyring.IsNewer(curID, nil) {
		t.Error("IsNewer with nil is true")
	}
}

// TestConcurrentUse runs Verify and Certify from several goroutines on one
// Trust and ServerKey (run with -race).
func TestConcurrentUse(t *testing.T) {
	srv := serverKey(t, 0)
	tr := trust(t, srv.Public(), serverKey(t, 1).Public())
	rings := [][]byte{readFile(t, "android.pgp-public.bin"), readFile(t, "legacy.pgp-public.bin")}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			signed, err := srv.Certify(rings[i%2], domain, testNow)
			if err == nil {
				_, err = keyring.Verify(signed, domain, tr, testNow)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestErrorText(t *testing.T) {
	_, err := keyring.Verify(readFile(t, "android.pgp-public.bin"), domain, trust(t, serverKey(t, 0).Public()), testNow)
	var ke *keyring.Error
	if !errors.As(err, &ke) {
		t.Fatalf("got %T", err)
	}
	if got := ke.Reason.Error(); got != "key is not certified by the server" {
		t.Errorf("reason text %q", got)
	}
	if !strings.HasPrefix(err.Error(), "keyring: key is not certified by the server: key 339A5EBC8F959C16") {
		t.Errorf("error text %q", err.Error())
	}
}

// TestMasterKeyAlgorithms: Kontalk clients make RSA master keys; other
// master keys that crypto/tls can use as a bridge certificate key are
// accepted within the cost bounds, the rest refused.
func TestMasterKeyAlgorithms(t *testing.T) {
	srv := serverKey(t, 0)
	tr := trust(t, srv.Public())
	hash := strings.Repeat("c3", 20)
	tests := []struct {
		name string
		cfg  packet.Config
		want keyring.Reason // empty: accepted
		typ  string
	}{
		{"ECDSA P-256", packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256}, "", "*ecdsa.PublicKey"},
		{"EdDSA legacy Ed25519", packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}, "", "ed25519.PublicKey"},
		{"Ed25519", packet.Config{Algorithm: packet.PubKeyAlgoEd25519}, "", "ed25519.PublicKey"},
		{"RSA-4096", packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 4096}, "", "*rsa.PublicKey"},
		{"ECDSA P-384", packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP384}, keyring.ErrUnsupportedKey, ""},
		{"Ed448", packet.Config{Algorithm: packet.PubKeyAlgoEd448}, keyring.ErrUnsupportedKey, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Time = func() time.Time { return testNow.Add(-time.Hour) }
			e, err := openpgp.NewEntity("Test", "", hash+"@"+domain, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			var ring bytes.Buffer
			if err := e.Serialize(&ring); err != nil {
				t.Fatal(err)
			}
			if tc.want != "" {
				_, err := keyring.Inspect(ring.Bytes(), domain, testNow)
				wantReason(t, err, tc.want)
				return
			}
			id, err := keyring.Verify(certify(t, srv, ring.Bytes(), testNow), domain, tr, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", id.PublicKey); got != tc.typ {
				t.Errorf("public key %s, want %s", got, tc.typ)
			}
		})
	}
}
