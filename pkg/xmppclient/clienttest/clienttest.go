// Package clienttest builds Kontalk client identities for tests: an
// OpenPGP key in the Android layout (pkg/keyring/keytest), optionally
// certified by a test server key, wrapped in a bridge certificate exactly
// as the Android and desktop clients build it (pkg/bridge), ready to be
// presented in a TLS handshake. It also reads the real clients' fixtures
// (shared/testdata/kontalk-bridge), certifies them and rebuilds their
// certificate around the certified ring, as clients do after registering,
// and makes throwaway TLS server certificates.
package clienttest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	pgpecdsa "github.com/ProtonMail/go-crypto/openpgp/ecdsa"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kontalk/xmppd/pkg/bridge"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
)

// Localpart returns the user part Kontalk derives from a phone number in
// E.164 form: the lower-case hex SHA-1 of it ("+15555215554" gives
// 4bdd4f929f3a1062253e4e496bafba0bdfb5db75).
func Localpart(e164 string) string {
	sum := sha1.Sum([]byte(e164))
	return hex.EncodeToString(sum[:])
}

// Options describe an identity for New. The zero value (with a Certifier)
// is a current Android-layout key certified now.
type Options struct {
	// Name is the display name in the user ID (default "Test User").
	Name string
	// Phone is the E.164 number the localpart is derived from; empty
	// picks a random one.
	Phone string
	// UIDDomain is the domain of the user ID's e-mail address; empty
	// means the network domain.
	UIDDomain string
	// Key selects the key variant: creation time, lifetime, legacy
	// layout. With Revoked and a Certifier, the key is certified first and
	// revoked afterwards, as a user revokes a key the server once signed.
	Key keytest.Options
	// Certifier certifies the key's user ID; nil leaves it uncertified.
	Certifier *keyring.ServerKey
	// CertifyAt is the time of the certification (default now); it must
	// fall within the key's and the server key's lifetimes.
	CertifyAt time.Time
	// StandardOtherName builds the certificate with the RFC 5280 form of
	// the xmppAddr otherName, the form Python's ssl module can load.
	StandardOtherName bool
	// ECDSA makes an ECDSA P-256 master key instead of the clients'
	// RSA-2048: a key a load generator signs handshakes with cheaply. Key
	// options other than Created are ignored.
	ECDSA bool
}

// Identity is a client identity: its key, its key ring and the bridge
// certificate that carries it.
type Identity struct {
	Domain      string // the network domain
	Localpart   string
	JID         string // localpart@Domain
	Fingerprint string // upper-case hex
	UserIDs     []string
	Created     time.Time // the master key's creation time
	// Signer is the master key (RSA unless made with ECDSA), which signs
	// the certificate and the TLS handshake.
	Signer crypto.Signer
	// Key is the generated key with its private parts; nil for fixtures.
	Key *keytest.UserKey
	// Ring is the public key ring carried by the certificate (certified
	// when a Certifier was given).
	Ring []byte
	// CertDER is the bridge certificate.
	CertDER []byte
	// Certificate presents CertDER in a Go TLS handshake, byte for byte.
	Certificate tls.Certificate
}

// New generates an identity in the network domain.
func New(domain string, opts Options) (*Identity, error) {
	if opts.Name == "" {
		opts.Name = "Test User"
	}
	if opts.Phone == "" {
		n, err := rand.Int(rand.Reader, big.NewInt(1e10))
		if err != nil {
			return nil, fmt.Errorf("clienttest: random phone number: %w", err)
		}
		opts.Phone = fmt.Sprintf("+39%010d", n)
	}
	uidDomain := opts.UIDDomain
	if uidDomain == "" {
		uidDomain = domain
	}
	localpart := Localpart(opts.Phone)
	revoke := opts.Key.Revoked && opts.Certifier != nil
	keyOpts := opts.Key
	if revoke {
		keyOpts.Revoked = false
	}
	if opts.ECDSA {
		return newECDSA(domain, uidDomain, localpart, opts)
	}
	key, err := keytest.NewUserKey(opts.Name, localpart, uidDomain, keyOpts)
	if err != nil {
		return nil, fmt.Errorf("clienttest: %w", err)
	}
	ring := key.PublicRing
	if opts.Certifier != nil {
		at := opts.CertifyAt
		if at.IsZero() {
			at = time.Now()
		}
		if ring, err = opts.Certifier.Certify(ring, uidDomain, at); err != nil {
			return nil, fmt.Errorf("clienttest: certify: %w", err)
		}
	}
	if revoke {
		if ring, err = key.Revoke(ring, time.Now()); err != nil {
			return nil, fmt.Errorf("clienttest: %w", err)
		}
	}
	id := &Identity{
		Domain:      domain,
		Localpart:   localpart,
		JID:         localpart + "@" + domain,
		Fingerprint: fmt.Sprintf("%X", key.Entity.PrimaryKey.Fingerprint),
		UserIDs:     []string{fmt.Sprintf("%s <%s@%s>", opts.Name, localpart, uidDomain)},
		Created:     key.Entity.PrimaryKey.CreationTime,
		Signer:      key.Signer,
		Key:         key,
		Ring:        ring,
	}
	if err := id.build(opts.StandardOtherName); err != nil {
		return nil, err
	}
	return id, nil
}

// newECDSA makes a certified identity whose master key is ECDSA P-256.
func newECDSA(domain, uidDomain, localpart string, opts Options) (*Identity, error) {
	created := opts.Key.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.Truncate(time.Second)
	cfg := &packet.Config{
		Algorithm:   packet.PubKeyAlgoECDSA,
		Curve:       packet.CurveNistP256,
		DefaultHash: crypto.SHA256,
		Time:        func() time.Time { return created },
	}
	e, err := openpgp.NewEntity(opts.Name, "", localpart+"@"+uidDomain, cfg)
	if err != nil {
		return nil, fmt.Errorf("clienttest: ECDSA key: %w", err)
	}
	var ring bytes.Buffer
	if err := e.Serialize(&ring); err != nil {
		return nil, fmt.Errorf("clienttest: serialize ECDSA key: %w", err)
	}
	signer, err := standardECDSA(e.PrivateKey)
	if err != nil {
		return nil, err
	}
	certified := ring.Bytes()
	if opts.Certifier != nil {
		at := opts.CertifyAt
		if at.IsZero() {
			at = time.Now()
		}
		if certified, err = opts.Certifier.Certify(certified, uidDomain, at); err != nil {
			return nil, fmt.Errorf("clienttest: certify: %w", err)
		}
	}
	id := &Identity{
		Domain:      domain,
		Localpart:   localpart,
		JID:         localpart + "@" + domain,
		Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
		UserIDs:     []string{fmt.Sprintf("%s <%s@%s>", opts.Name, localpart, uidDomain)},
		Created:     created,
		Signer:      signer,
		Ring:        certified,
	}
	if err := id.build(opts.StandardOtherName); err != nil {
		return nil, err
	}
	return id, nil
}

// standardECDSA converts an OpenPGP ECDSA P-256 private key to the
// standard library's, for TLS.
func standardECDSA(pk *packet.PrivateKey) (*ecdsa.PrivateKey, error) {
	k, ok := pk.PrivateKey.(*pgpecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("clienttest: master key is %T, not ECDSA", pk.PrivateKey)
	}
	d := make([]byte, 32)
	k.D.FillBytes(d)
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, fmt.Errorf("clienttest: ECDSA key: %w", err)
	}
	return key, nil
}

func (id *Identity) build(standardOtherName bool) error {
	cert, der, err := id.Bridge(id.Signer, id.Ring, standardOtherName)
	if err != nil {
		return err
	}
	id.Certificate, id.CertDER = cert, der
	return nil
}

// Bridge builds another bridge certificate for the identity: signed by
// signer (the identity's Signer for a genuine one, another key for one
// whose key differs from its ring's), carrying ring.
func (id *Identity) Bridge(signer crypto.Signer, ring []byte, standardOtherName bool) (tls.Certificate, []byte, error) {
	der, err := bridge.NewCertificate(signer, ring, bridge.Template{
		UserIDs:           id.UserIDs,
		NotBefore:         id.Created,
		NotAfter:          id.Created,
		StandardOtherName: standardOtherName,
	})
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("clienttest: %w", err)
	}
	cert, err := bridge.TLSCertificate(der, signer)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("clienttest: %w", err)
	}
	return cert, der, nil
}

// PlainCertificate builds a self-signed certificate of the identity's key
// without the key ring extension: not a bridge certificate.
func (id *Identity) PlainCertificate() (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Organization: []string{"OpenPGP to X.509 Bridge"}, CommonName: id.UserIDs[0]},
		NotBefore:    id.Created,
		NotAfter:     id.Created.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.Signer.Public(), id.Signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("clienttest: plain certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.Signer}, nil
}

// WritePEM writes CertDER and the private key as PEM files named
// name.crt and name.key in dir, for clients that load files.
func (id *Identity) WritePEM(dir, name string) (certFile, keyFile string, err error) {
	return writePEM(dir, name, id.CertDER, id.Signer)
}

func writePEM(dir, name string, der []byte, key crypto.Signer) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("clienttest: marshal key: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("clienttest: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("clienttest: %w", err)
	}
	return certFile, keyFile, nil
}

// FixtureCertificate returns a fixture's bridge certificate as shipped
// (its key uncertified): name is "android" or "legacy", standardOtherName
// picks the *.cert-stdsan.der form.
func FixtureCertificate(dir, name string, standardOtherName bool) (tls.Certificate, error) {
	file := name + ".cert.der"
	if standardOtherName {
		file = name + ".cert-stdsan.der"
	}
	der, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("clienttest: %w", err)
	}
	key, err := readRSAKey(filepath.Join(dir, name+".tls-key.pem"))
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := bridge.TLSCertificate(der, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("clienttest: fixture %s: %w", file, err)
	}
	return cert, nil
}

// Fixture reads a fixture identity from dir (name is "android" or
// "legacy"), has certifier certify its key for domain (the fixtures'
// domain is kontalk.test) and rebuilds its bridge certificate around the
// certified ring, as a client does with the key the server returns after
// registration.
func Fixture(dir, name, domain string, certifier *keyring.ServerKey, standardOtherName bool) (*Identity, error) {
	signer, err := readRSAKey(filepath.Join(dir, name+".tls-key.pem"))
	if err != nil {
		return nil, err
	}
	public, err := os.ReadFile(filepath.Join(dir, name+".pgp-public.bin"))
	if err != nil {
		return nil, fmt.Errorf("clienttest: %w", err)
	}
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(public)))
	if err != nil {
		return nil, fmt.Errorf("clienttest: fixture %s key ring: %w", name, err)
	}
	ring, err := certifier.Certify(public, domain, time.Now())
	if err != nil {
		return nil, fmt.Errorf("clienttest: certify fixture %s: %w", name, err)
	}
	var uids []string
	var localpart string
	for uidName, ident := range e.Identities {
		uids = append(uids, uidName)
		if local, host, ok := strings.Cut(ident.UserId.Email, "@"); ok && strings.EqualFold(host, domain) {
			localpart = local
		}
	}
	if localpart == "" {
		return nil, fmt.Errorf("clienttest: fixture %s has no user ID in %s", name, domain)
	}
	slices.Sort(uids)
	id := &Identity{
		Domain:      domain,
		Localpart:   localpart,
		JID:         localpart + "@" + domain,
		Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
		UserIDs:     uids,
		Created:     e.PrimaryKey.CreationTime,
		Signer:      signer,
		Ring:        ring,
	}
	if err := id.build(standardOtherName); err != nil {
		return nil, err
	}
	return id, nil
}

func readRSAKey(file string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("clienttest: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("clienttest: %s: no PEM block", file)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("clienttest: %s: %w", file, err)
	}
	return key, nil
}

// ServerCertificate makes a throwaway self-signed ECDSA server
// certificate for domain, valid for a day, and the pool that trusts it.
func ServerCertificate(domain string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("clienttest: server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: domain},
		DNSNames:              []string{domain},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("clienttest: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("clienttest: server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// WriteServerCertificate makes a server certificate like
// ServerCertificate and writes it to dir as name.crt and name.key.
func WriteServerCertificate(dir, name, domain string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	cert, pool, err := ServerCertificate(domain)
	if err != nil {
		return "", "", nil, err
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return "", "", nil, errors.New("clienttest: server key is not a signer")
	}
	certFile, keyFile, err = writePEM(dir, name, cert.Certificate[0], signer)
	return certFile, keyFile, pool, err
}
