package bridge

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"crypto/dsa" //lint:ignore SA1019 a DSA key must be refused with a clear reason
)

func TestPublicKeyRingFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		for form, der := range map[string][]byte{"client": f.cert, "standard": f.stdsanCert} {
			ring, err := PublicKeyRing(der)
			if err != nil {
				t.Fatalf("%s %s: %v", f.name, form, err)
			}
			if !bytes.Equal(ring, f.ring) {
				t.Errorf("%s %s: ring of %d bytes differs from %s.pgp-public.bin (%d bytes)", f.name, form, len(ring), f.name, len(f.ring))
			}
		}
	}
}

func TestPublicKeyRingRefuses(t *testing.T) {
	f := loadFixture(t, "android")
	signer := testSigner()
	ringExt := func(value []byte) extension {
		return extension{oid: keyRingOIDDER, value: value}
	}
	plain := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "plain"},
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
	}
	standard, err := x509.CreateCertificate(rand.Reader, plain, plain, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		der  []byte
		want error
		says string
	}{
		{"empty input", nil, ErrMalformedCertificate, "not a DER SEQUENCE"},
		{"trailing byte", append(bytes.Clone(f.cert), 0), ErrMalformedCertificate, "after the certificate"},
		{"not DER", []byte("-----BEGIN CERTIFICATE-----"), ErrMalformedCertificate, ""},
		{"standard certificate", standard, ErrNoKeyRing, ""},
		{"no extensions", craftCertificate(t, signer, nil), ErrNoKeyRing, ""},
		{"other extensions only", craftCertificate(t, signer, []extension{{oid: oidSubjectKeyID, value: []byte{4, 1, 0}}}), ErrNoKeyRing, ""},
		{"OCTET STRING instead of BIT STRING", craftCertificate(t, signer, []extension{ringExt(append([]byte{4, 3}, "abc"...))}), ErrMalformedKeyRing, "not a BIT STRING"},
		{"unused bits", craftCertificate(t, signer, []extension{ringExt([]byte{3, 3, 1, 'a', 'b'})}), ErrMalformedKeyRing, "1 unused bits"},
		{"truncated BIT STRING", craftCertificate(t, signer, []extension{ringExt([]byte{3, 0x82, 6, 0x31, 0, 0x99, 0x01})}), ErrMalformedKeyRing, "truncated"},
		{"no unused-bits octet", craftCertificate(t, signer, []extension{ringExt([]byte{3, 0})}), ErrMalformedKeyRing, "unused-bits octet"},
		{"empty ring", craftCertificate(t, signer, []extension{ringExt([]byte{3, 1, 0})}), ErrMalformedKeyRing, "empty key ring"},
		{"data after the BIT STRING", craftCertificate(t, signer, []extension{ringExt([]byte{3, 2, 0, 'a', 5, 0})}), ErrMalformedKeyRing, "after the BIT STRING"},
		{"extension twice", craftCertificate(t, signer, []extension{ringExt([]byte{3, 2, 0, 'a'}), ringExt([]byte{3, 2, 0, 'b'})}), ErrMalformedKeyRing, "twice"},
		{"non-minimal OID", craftCertificate(t, signer, []extension{{oid: "\x69\x80\xc9\x1b", value: []byte{3, 2, 0, 'a'}}}), ErrMalformedCertificate, "extension OID"},
		{"unfinished OID", craftCertificate(t, signer, []extension{{oid: "\x69\xc9", value: []byte{3, 2, 0, 'a'}}}), ErrMalformedCertificate, "extension OID"},
	}
	for _, tt := range tests {
		ring, err := PublicKeyRing(tt.der)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: ring %d bytes, err = %v; want %v saying %q", tt.name, len(ring), err, tt.want, tt.says)
		}
	}
}

// TestPublicKeyRingTruncations cuts a fixture at every length.
func TestPublicKeyRingTruncations(t *testing.T) {
	der := loadFixture(t, "legacy").cert
	for n := range len(der) {
		if _, err := PublicKeyRing(der[:n]); !errors.Is(err, ErrMalformedCertificate) {
			t.Fatalf("cut at %d of %d: err = %v, want ErrMalformedCertificate", n, len(der), err)
		}
	}
}

// TestPublicKeyRingCopies checks the ring does not alias the certificate.
func TestPublicKeyRingCopies(t *testing.T) {
	f := loadFixture(t, "legacy")
	der := bytes.Clone(f.cert)
	ring, err := PublicKeyRing(der)
	if err != nil {
		t.Fatal(err)
	}
	clear(der)
	if !bytes.Equal(ring, f.ring) {
		t.Error("ring changed with the certificate's bytes")
	}
}

func TestMatchesKey(t *testing.T) {
	fixtures := loadFixtures(t)
	for i, f := range fixtures {
		other := fixtures[1-i]
		for form, der := range map[string][]byte{"client": f.cert, "standard": f.stdsanCert} {
			if err := MatchesKey(der, f.master); err != nil {
				t.Errorf("%s %s: OpenPGP master key: %v", f.name, form, err)
			}
			if err := MatchesKey(der, &f.key.PublicKey); err != nil {
				t.Errorf("%s %s: TLS key: %v", f.name, form, err)
			}
			err := MatchesKey(der, other.master)
			if !errors.Is(err, ErrKeyMismatch) {
				t.Errorf("%s %s: %s's key: err = %v, want ErrKeyMismatch", f.name, form, other.name, err)
			}
		}
	}
}

func TestMatchesKeyRefuses(t *testing.T) {
	f := loadFixture(t, "android")
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		der  []byte
		pub  any
		want error
		says string
	}{
		{"DSA master key", f.cert, &dsa.PublicKey{}, ErrUnsupportedKey, "DSA keys are not supported by the Go TLS stack"},
		{"X25519 key", f.cert, x25519.PublicKey(), ErrUnsupportedKey, "*ecdh.PublicKey"},
		{"RSA key without modulus", f.cert, &rsa.PublicKey{}, ErrUnsupportedKey, "incomplete"},
		{"nil key", f.cert, nil, ErrUnsupportedKey, ""},
		{"RSA key as a value", f.cert, f.key.PublicKey, ErrUnsupportedKey, ""},
		{"Ed25519 certificate", craftCertificate(t, testSigner(), nil), f.master, ErrKeyMismatch, "Ed25519"},
		{"truncated certificate", f.cert[:100], f.master, ErrMalformedCertificate, ""},
	}
	for _, tt := range tests {
		err := MatchesKey(tt.der, tt.pub)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: err = %v; want %v saying %q", tt.name, err, tt.want, tt.says)
		}
	}
}

func BenchmarkPublicKeyRing(b *testing.B) {
	der := loadFixture(b, "android").cert
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PublicKeyRing(der); err != nil {
			b.Fatal(err)
		}
	}
}
