package bridge

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestNewCertificateReproducesFixtures rebuilds each fixture from its RSA key, key ring,
// user ID and key creation time, as a client does, and expects the same bytes: PKCS#1
// v1.5 signatures are deterministic, so every field and the signature must match.
func TestNewCertificateReproducesFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		for _, standard := range []bool{false, true} {
			want := f.cert
			if standard {
				want = f.stdsanCert
			}
			got, err := NewCertificate(f.key, f.ring, Template{
				UserIDs:           []string{f.userID},
				NotBefore:         f.created,
				NotAfter:          f.created,
				StandardOtherName: standard,
			})
			if err != nil {
				t.Fatalf("%s standard=%v: %v", f.name, standard, err)
			}
			if !bytes.Equal(got, want) {
				at := 0
				for at < len(got) && at < len(want) && got[at] == want[at] {
					at++
				}
				t.Errorf("%s standard=%v: %d bytes, fixture %d; first difference at offset %d", f.name, standard, len(got), len(want), at)
			}
		}
	}
}

// TestNewCertificateOtherKeys builds certificates with the key types clients never use
// and checks them with crypto/x509, signature included.
func TestNewCertificateOtherKeys(t *testing.T) {
	requireOverlay(t)
	signers := map[string]crypto.Signer{"Ed25519": testSigner()}
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signers["ECDSA "+curve.Params().Name] = key
	}
	ring := []byte("not really a key ring")
	for name, signer := range signers {
		der, err := NewCertificate(signer, ring, testTemplate())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := cert.CheckSignatureFrom(cert); err != nil {
			t.Errorf("%s: self-signature: %v", name, err)
		}
		if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 || !bytes.Equal(cert.SubjectKeyId, cert.AuthorityKeyId) {
			t.Errorf("%s: CA=%v usage=%b SKI=%x AKI=%x", name, cert.IsCA, cert.KeyUsage, cert.SubjectKeyId, cert.AuthorityKeyId)
		}
		if got, err := PublicKeyRing(der); err != nil || !bytes.Equal(got, ring) {
			t.Errorf("%s: PublicKeyRing = %q, %v", name, got, err)
		}
		if err := MatchesKey(der, signer.Public()); err != nil {
			t.Errorf("%s: MatchesKey: %v", name, err)
		}
	}
}

// TestNewCertificateNames checks names, addresses and dates through crypto/x509.
func TestNewCertificateNames(t *testing.T) {
	requireOverlay(t)
	tmpl := Template{
		UserIDs: []string{
			"Alice <alice@kontalk.test>",
			"no address",
			"Alice at work <alice@work.test>",
			"empty <>",
		},
		NotBefore: time.Date(1949, time.December, 31, 23, 59, 59, 0, time.UTC),
		NotAfter:  time.Date(2050, time.January, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600)),
	}
	der, err := NewCertificate(testSigner(), []byte{1}, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotBefore.Equal(tmpl.NotBefore) || !cert.NotAfter.Equal(tmpl.NotAfter) {
		t.Errorf("validity %v to %v, want %v to %v", cert.NotBefore, cert.NotAfter, tmpl.NotBefore, tmpl.NotAfter)
	}
	var cns []string
	for _, atv := range cert.Subject.Names {
		if atv.Type.String() == "2.5.4.3" {
			cns = append(cns, atv.Value.(string))
		}
	}
	if !slices.Equal(cns, tmpl.UserIDs) || !slices.Equal(cert.Subject.Organization, []string{"OpenPGP to X.509 Bridge"}) {
		t.Errorf("subject %v", cert.Subject)
	}
	if !bytes.Equal(cert.RawSubject, cert.RawIssuer) {
		t.Error("issuer differs from subject")
	}
	if got, want := tmpl.xmppAddresses(), []string{"alice@kontalk.test", "alice@work.test"}; !slices.Equal(got, want) {
		t.Errorf("xmppAddresses = %q, want %q", got, want)
	}
}

func TestNewCertificateRefuses(t *testing.T) {
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		signer crypto.Signer
		ring   []byte
		tmpl   Template
		want   error
	}{
		{"empty ring", testSigner(), nil, testTemplate(), nil},
		{"no user ID", testSigner(), []byte{1}, Template{}, nil},
		{"user ID not UTF-8", testSigner(), []byte{1}, Template{UserIDs: []string{"\xff"}}, nil},
		{"P-224 key", p224, []byte{1}, testTemplate(), ErrUnsupportedKey},
	}
	for _, tt := range tests {
		_, err := NewCertificate(tt.signer, tt.ring, tt.tmpl)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestOIDConstants checks the hand-encoded OBJECT IDENTIFIERs against their dotted form.
func TestOIDConstants(t *testing.T) {
	for dotted, der := range map[string]string{
		KeyRingExtensionOID:     keyRingOIDDER,
		"2.5.4.10":              oidOrganization,
		"2.5.4.3":               oidCommonName,
		"2.5.29.19":             oidBasicConstraints,
		"2.5.29.15":             oidKeyUsage,
		"2.16.840.1.113730.1.1": oidNetscapeCertType,
		"2.5.29.14":             oidSubjectKeyID,
		"2.5.29.35":             oidAuthorityKeyID,
		"2.5.29.17":             oidSubjectAltName,
		"1.3.6.1.5.5.7.8.5":     oidXMPPAddr,
		"1.2.840.113549.1.1.5":  oidSHA1WithRSA,
		"1.2.840.10045.4.3.2":   oidECDSAWithSHA256,
		"1.2.840.10045.4.3.3":   oidECDSAWithSHA384,
		"1.2.840.10045.4.3.4":   oidECDSAWithSHA512,
		"1.3.101.112":           oidEd25519,
	} {
		oid, err := x509.ParseOID(dotted)
		if err != nil {
			t.Fatal(err)
		}
		want, err := oid.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if string(want) != der {
			t.Errorf("%s: constant % x, want % x", dotted, der, want)
		}
	}
}
