package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/keyring"
)

// The host certificate made from an OpenPGP server key yields, to a peer
// that has only the certificate, the key's OpenPGP fingerprint.
func TestHostIdentity(t *testing.T) {
	created := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	sk, err := keyring.GenerateServerKey("Test host", "admin@h.example", keyring.ServerKeyOptions{RSABits: 2048, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	armored, err := sk.ArmoredPrivate()
	if err != nil {
		t.Fatal(err)
	}
	id, err := LoadHostIdentity(armored, "h.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id.Fingerprint != sk.Fingerprint() {
		t.Fatalf("fingerprint %s, server key %s", id.Fingerprint, sk.Fingerprint())
	}
	leaf, err := x509.ParseCertificate(id.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotBefore.Equal(created) || leaf.DNSNames[0] != "h.example" {
		t.Errorf("certificate: notBefore %v, names %v", leaf.NotBefore, leaf.DNSNames)
	}
	chain := []*x509.Certificate{leaf}
	spaced := strings.ToLower(sk.Fingerprint()[:20]) + " " + sk.Fingerprint()[20:]
	for _, fp := range []string{sk.Fingerprint(), spaced} {
		if err := verifyHostCert(chain, fp); err != nil {
			t.Errorf("listed as %q: %v", fp, err)
		}
	}
	other, err := keyring.GenerateServerKey("Other", "admin@o.example", keyring.ServerKeyOptions{RSABits: 2048, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	for _, fp := range []string{other.Fingerprint(), "", "00"} {
		if err := verifyHostCert(chain, fp); err == nil {
			t.Errorf("accepted as %q", fp)
		}
	}
	if err := verifyHostCert(nil, sk.Fingerprint()); err == nil {
		t.Error("no certificate accepted")
	}
	// The same key with another creation date is another OpenPGP key.
	shifted, err := NewHostIdentity(id.Cert.PrivateKey.(*rsa.PrivateKey), created.Add(time.Second), "h.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyHostCert([]*x509.Certificate{shifted.Cert.Leaf}, sk.Fingerprint()); err == nil {
		t.Error("a certificate dated otherwise passes for the listed key")
	}
	if _, err := LoadHostIdentity([]byte("not a key"), "h.example", time.Now()); err == nil {
		t.Error("garbage loaded as a server key")
	}
}

// testCA issues certificates for verifyPeerCert.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	return ca
}

func (ca *testCA) issue(t *testing.T, names ...string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// A federated peer's certificate must chain to a trusted CA and name the
// domain it authenticates; a server-only key usage still counts, as
// servers present their server certificate as client certificate.
func TestVerifyPeerCert(t *testing.T) {
	ca, rogue := newTestCA(t), newTestCA(t)
	cert := ca.issue(t, "peer.example")
	now := time.Now()
	if err := verifyPeerCert([]*x509.Certificate{cert}, "peer.example", ca.pool, now); err != nil {
		t.Errorf("valid certificate refused: %v", err)
	}
	for name, tc := range map[string]struct {
		certs  []*x509.Certificate
		domain string
		roots  *x509.CertPool
		when   time.Time
	}{
		"other domain": {[]*x509.Certificate{cert}, "other.example", ca.pool, now},
		"untrusted CA": {[]*x509.Certificate{rogue.issue(t, "peer.example")}, "peer.example", ca.pool, now},
		"expired":      {[]*x509.Certificate{cert}, "peer.example", ca.pool, now.Add(2 * time.Hour)},
		"none":         {nil, "peer.example", ca.pool, now},
	} {
		if err := verifyPeerCert(tc.certs, tc.domain, tc.roots, tc.when); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
