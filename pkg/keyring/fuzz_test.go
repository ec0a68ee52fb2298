package keyring_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
)

var seedFiles = []string{
	"android.pgp-public.bin", "android.pgp-secret.asc", "legacy.pgp-public.bin", "legacy.pgp-secret.asc",
	"android.gpg-certified.bin", "dsa.gpg-public.bin", "gpg-server.pub.asc",
}

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, refuse
// with a *keyring.Error, and whatever it accepts must be a consistent
// identity that verifies again.
func FuzzVerify(f *testing.F) {
	srv := serverKey(f, 0)
	gpgServer, err := keyring.ParseServerPublicKey(readFile(f, "gpg-server.pub.asc"))
	if err != nil {
		f.Fatal(err)
	}
	tr := trust(f, srv.Public(), gpgServer)
	for _, name := range seedFiles {
		f.Add(readFile(f, name))
	}
	for _, name := range []string{"android.pgp-public.bin", "legacy.pgp-public.bin"} {
		signed := certify(f, srv, readFile(f, name), testNow)
		f.Add(signed)
		f.Add(armorRing(f, openpgp.PublicKeyType, signed))
	}
	f.Fuzz(func(t *testing.T, ring []byte) {
		id, err := keyring.Verify(ring, domain, tr, testNow)
		if err != nil {
			var ke *keyring.Error
			if id != nil || !errors.As(err, &ke) || strings.Contains(ke.Detail, "panic") {
				t.Fatalf("refusal %v with identity %v", err, id)
			}
		} else {
			if !strings.HasSuffix(id.JID, "@"+domain) || len(id.Fingerprint) != 40 || id.PublicKey == nil ||
				!slices.Contains(tr.Fingerprints(), id.CertifiedBy) {
				t.Fatalf("inconsistent identity %+v", id)
			}
			again, err := keyring.Verify(id.Ring, domain, tr, testNow)
			if err != nil || again.Fingerprint != id.Fingerprint {
				t.Fatalf("Identity.Ring does not verify again: %v", err)
			}
		}

		// What Inspect accepts, Certify signs and Verify then accepts.
		claimed, err := keyring.Inspect(ring, domain, testNow)
		if err != nil {
			return
		}
		signed, err := srv.Certify(ring, domain, testNow)
		if err != nil {
			t.Fatalf("Inspect accepted, Certify refused: %v", err)
		}
		id, err = keyring.Verify(signed, domain, tr, testNow)
		if err != nil || id.JID != claimed.JID || id.Fingerprint != claimed.Fingerprint {
			t.Fatalf("certified ring does not verify as %s: %v", claimed.JID, err)
		}
	})
}

// FuzzVerifyRevocation feeds arbitrary bytes to VerifyRevocation.
func FuzzVerifyRevocation(f *testing.F) {
	for _, name := range seedFiles {
		f.Add(readFile(f, name))
	}
	revoked, err := newUserKey(f, strings.Repeat("0f", 20), domain, keytest.Options{Created: testNow.Add(-time.Hour)}).Revoke(nil, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(revoked)
	f.Fuzz(func(t *testing.T, ring []byte) {
		err := keyring.VerifyRevocation(ring, fixtures[0].fpr)
		var ke *keyring.Error
		if err != nil && (!errors.As(err, &ke) || strings.Contains(ke.Detail, "panic")) {
			t.Fatalf("refusal of type %T: %v", err, err)
		}
	})
}
