package bridge

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"
)

// Fuzzing hint: the seeds are certificates of 2 KiB and more, whose minimization takes
// the default minute each; run with, from pkg/,
//
//	GOFLAGS="$(go env GOFLAGS) $(make -s -C .. x509overlay)" go test -run '^$' \
//		-fuzz FuzzPublicKeyRing -fuzzminimizetime 2s ./bridge/

// addCertificateSeeds adds the fixtures, truncations of them, and a small certificate.
func addCertificateSeeds(f *testing.F, fixtures []fixture) {
	f.Helper()
	for _, fx := range fixtures {
		for _, der := range [][]byte{fx.cert, fx.stdsanCert} {
			f.Add(der)
			for _, n := range []int{0, 1, 4, 8, 300, 800, len(der) / 2, len(der) - 260, len(der) - 1} {
				f.Add(der[:n])
			}
		}
	}
	small, err := NewCertificate(testSigner(), []byte{0x99, 0, 1}, testTemplate())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
}

// FuzzPublicKeyRing feeds the extension reader arbitrary DER. It must never panic, must
// refuse with one of its errors, and a ring it returns must be bytes of the input.
func FuzzPublicKeyRing(f *testing.F) {
	fixtures := loadFixtures(f)
	addCertificateSeeds(f, fixtures)
	master := fixtures[0].master

	f.Fuzz(func(t *testing.T, der []byte) {
		ring, err := PublicKeyRing(der)
		switch {
		case err == nil:
			if len(ring) == 0 || !bytes.Contains(der, ring) {
				t.Fatalf("ring of %d bytes not taken from the input", len(ring))
			}
		case !errors.Is(err, ErrMalformedCertificate) && !errors.Is(err, ErrNoKeyRing) && !errors.Is(err, ErrMalformedKeyRing):
			t.Fatalf("unexpected error: %v", err)
		}
		if MatchesKey(der, master) == nil {
			if _, err := TLSCertificate(der, fixtures[0].key); err != nil {
				t.Fatalf("MatchesKey accepted what TLSCertificate refuses: %v", err)
			}
		}
	})
}

// FuzzX509Overlay feeds crypto/x509 (with the overlay) mutated bridge certificates: the
// patched parser must not panic, and may only let through, without an Id, a single
// extension that is not critical.
func FuzzX509Overlay(f *testing.F) {
	addCertificateSeeds(f, loadFixtures(f))
	f.Fuzz(func(t *testing.T, der []byte) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		withoutID := 0
		for _, ext := range cert.Extensions {
			if ext.Id == nil {
				withoutID++
				if ext.Critical {
					t.Fatal("critical extension accepted without an Id")
				}
			}
		}
		if withoutID > 1 {
			t.Fatalf("%d extensions without an Id", withoutID)
		}
	})
}
