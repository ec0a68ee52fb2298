package clienttest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/bridge"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
)

const domain = "kontalk.test"

var server = func() *keyring.ServerKey {
	k, err := keyring.GenerateServerKey("Test", "server@"+domain, keyring.ServerKeyOptions{RSABits: 2048, Created: time.Now().Add(-72 * time.Hour)})
	if err != nil {
		panic(err)
	}
	return k
}()

func trust(t *testing.T) *keyring.Trust {
	tr, err := keyring.NewTrust(server.Public())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestLocalpart(t *testing.T) {
	if got := Localpart("+15555215554"); got != "4bdd4f929f3a1062253e4e496bafba0bdfb5db75" {
		t.Errorf("Localpart = %s", got)
	}
}

// A certified identity is what a server accepts: its certificate carries
// the certified ring, whose master key is the certificate's.
func TestNew(t *testing.T) {
	for _, ecdsa := range []bool{false, true} {
		id, err := New(domain, Options{Certifier: server, Phone: "+15555215554", ECDSA: ecdsa})
		if err != nil {
			t.Fatal(err)
		}
		ring, err := bridge.PublicKeyRing(id.CertDER)
		if err != nil {
			t.Fatal(err)
		}
		v, err := keyring.Verify(ring, domain, trust(t), time.Now())
		if err != nil {
			t.Fatalf("ecdsa=%v: %v", ecdsa, err)
		}
		if v.JID != "4bdd4f929f3a1062253e4e496bafba0bdfb5db75@"+domain || v.JID != id.JID || v.Fingerprint != id.Fingerprint {
			t.Errorf("verified %s %s, identity %s %s", v.JID, v.Fingerprint, id.JID, id.Fingerprint)
		}
		if err := bridge.MatchesKey(id.CertDER, v.PublicKey); err != nil {
			t.Error(err)
		}
		if string(id.Certificate.Certificate[0]) != string(id.CertDER) {
			t.Error("TLS certificate differs from CertDER")
		}
	}
}

func TestVariants(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		opts Options
		want keyring.Reason
	}{
		{"uncertified", Options{}, keyring.ErrNotCertified},
		{"revoked", Options{Certifier: server, Key: keytest.Options{Revoked: true}}, keyring.ErrKeyRevoked},
		{"expired", Options{Certifier: server, Key: keytest.Options{Created: now.Add(-48 * time.Hour), Lifetime: 24 * time.Hour}, CertifyAt: now.Add(-47 * time.Hour)}, keyring.ErrKeyExpired},
		{"other domain", Options{Certifier: server, UIDDomain: "other.test"}, keyring.ErrNoDomainUID},
	} {
		id, err := New(domain, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, err := keyring.Verify(id.Ring, domain, trust(t), now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestFixtures(t *testing.T) {
	const dir = "../../bridge/testdata"
	for _, name := range []string{"android", "legacy"} {
		for _, std := range []bool{false, true} {
			shipped, err := FixtureCertificate(dir, name, std)
			if err != nil {
				t.Fatal(err)
			}
			id, err := Fixture(dir, name, domain, server, std)
			if err != nil {
				t.Fatal(err)
			}
			if string(shipped.Certificate[0]) == string(id.CertDER) {
				t.Error("rebuilt certificate is the shipped one")
			}
			ring, err := bridge.PublicKeyRing(id.CertDER)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := keyring.Verify(ring, domain, trust(t), time.Now()); err != nil || v.JID != id.JID {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	id, err := New(domain, Options{Certifier: server, StandardOtherName: true})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := id.WritePEM(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	// The standard form loads like any certificate.
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Error(err)
	}
	certFile, keyFile, pool, err := WriteServerCertificate(dir, "server", domain)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: domain}); err != nil {
		t.Error(err)
	}
	data, _ := os.ReadFile(certFile)
	if b, _ := pem.Decode(data); b == nil || b.Type != "CERTIFICATE" {
		t.Error("not PEM")
	}
	plain, err := id.PlainCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bridge.PublicKeyRing(plain.Certificate[0]); !errors.Is(err, bridge.ErrNoKeyRing) {
		t.Errorf("plain certificate: %v", err)
	}
}
