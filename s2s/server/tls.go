package server

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kontalk/xmppd/pkg/keyring"
)

// LoadFederationCert reads the certificate (with its chain) and private
// key presented to federated peers, PEM files.
func LoadFederationCert(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("s2s: federation certificate: %w", err)
	}
	return &c, nil
}

// LoadRoots returns the system's CAs plus those of caFile (PEM), which
// federated peers' certificates may chain to.
func LoadRoots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("s2s: CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("s2s: CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// HostIdentity is how a host proves to the other hosts of its network
// that it owns the server key the directory lists for it: a TLS
// certificate whose public key is the OpenPGP server key's RSA master key
// and whose notBefore is that key's creation time. From those two
// values anyone computes the key's OpenPGP v4 fingerprint, which must be
// the one in the directory; the TLS handshake proves the peer holds the
// private key. The certificate is an ordinary X.509 one, so any TLS stack
// handles it.
type HostIdentity struct {
	Cert        tls.Certificate
	Fingerprint string // upper-case hex, as in the directory
}

// LoadHostIdentity reads the host's armored OpenPGP server key (the file
// sm certifies users' keys with) and makes its host certificate for
// domain host.
func LoadHostIdentity(armoredKey []byte, host string, now time.Time) (*HostIdentity, error) {
	sk, err := keyring.LoadServerKey(armoredKey)
	if err != nil {
		return nil, fmt.Errorf("s2s: server key: %w", err)
	}
	entities, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredKey))
	if err != nil || len(entities) == 0 || entities[0].PrivateKey == nil {
		return nil, fmt.Errorf("s2s: server key: cannot read the private key: %w", err)
	}
	e := entities[0]
	rsaKey, ok := e.PrivateKey.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("s2s: server key: not an RSA key")
	}
	id, err := NewHostIdentity(rsaKey, e.PrimaryKey.CreationTime, host, now)
	if err != nil {
		return nil, err
	}
	if id.Fingerprint != sk.Fingerprint() {
		// An RSA key of OpenPGP algorithm 3 (sign only) hashes differently.
		return nil, fmt.Errorf("s2s: server key %s: its fingerprint cannot be derived from an X.509 certificate (OpenPGP algorithm %d; RSA, 1, is needed)",
			sk.Fingerprint(), e.PrimaryKey.PubKeyAlgo)
	}
	return id, nil
}

// NewHostIdentity makes the host certificate for an RSA server key
// created at created.
func NewHostIdentity(key *rsa.PrivateKey, created time.Time, host string, now time.Time) (*HostIdentity, error) {
	created = created.UTC().Truncate(time.Second)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("s2s: host certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host, Organization: []string{"Kontalk network host"}},
		DNSNames:              []string{host},
		NotBefore:             created,
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("s2s: host certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("s2s: host certificate: %w", err)
	}
	fp, err := hostKeyFingerprint(leaf)
	if err != nil {
		return nil, err
	}
	return &HostIdentity{
		Cert:        tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Fingerprint: fp,
	}, nil
}

// hostKeyFingerprint returns the OpenPGP v4 fingerprint of the RSA key of
// a host certificate created at its notBefore.
func hostKeyFingerprint(cert *x509.Certificate) (string, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("host certificate holds a %T, not an RSA server key", cert.PublicKey)
	}
	pk := packet.NewRSAPublicKey(cert.NotBefore, pub)
	return strings.ToUpper(hex.EncodeToString(pk.Fingerprint)), nil
}

// normalizeFingerprint upper-cases a fingerprint and drops spaces, the
// forms operators paste.
func normalizeFingerprint(fp string) string {
	return strings.ToUpper(strings.ReplaceAll(fp, " ", ""))
}

// verifyHostCert checks that a peer's certificate is bound to the server
// key with fingerprint want.
func verifyHostCert(certs []*x509.Certificate, want string) error {
	if len(certs) == 0 {
		return errors.New("no certificate presented")
	}
	got, err := hostKeyFingerprint(certs[0])
	if err != nil {
		return err
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(normalizeFingerprint(want))) != 1 {
		return fmt.Errorf("certificate of server key %s, the directory lists %s", got, want)
	}
	return nil
}

// verifyPeerCert checks a federated peer's certificate chain against
// roots (nil: the system's) and that it is valid for domain (a DNS
// subjectAltName, RFC 6125).
func verifyPeerCert(certs []*x509.Certificate, domain string, roots *x509.CertPool, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("no certificate presented")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		DNSName:       domain,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}

// serverTLSConfig is the configuration of an inbound STARTTLS (or direct
// TLS) for a stream to the local domain 'to': the host certificate for
// the host's own name, the federation certificate otherwise. Client
// certificates are requested and checked by the stream afterwards,
// against the domain the peer claims.
func (s *Server) serverTLSConfig(to string) *tls.Config {
	var cert *tls.Certificate
	if to == s.opts.Host && s.opts.HostIdentity != nil {
		cert = &s.opts.HostIdentity.Cert
	} else {
		cert = s.opts.FederationCert
	}
	if cert == nil {
		return nil
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

// clientTLSConfig is the configuration of an outbound link to remote. A
// link to another host of the network presents the host certificate and
// accepts only the certificate of the key the directory lists; a
// federated link presents the federation certificate and records
// whether the peer's certificate is valid, which only decides trust in
// the peer, not whether the link goes on (as dialback does not need it).
func (l *outLink) clientTLSConfig(directTLS bool) *tls.Config {
	cfg := &tls.Config{
		ServerName:         l.remote,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below, by key or by chain
	}
	if directTLS {
		cfg.NextProtos = []string{"xmpp-server"} // XEP-0368
	}
	s := l.srv
	// The certificate goes whatever CAs the peer says it accepts: the
	// peer decides what it makes of it.
	present := func(c *tls.Certificate) {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
	}
	if l.network {
		if s.opts.HostIdentity != nil {
			present(&s.opts.HostIdentity.Cert)
		}
		fp := l.hostFP
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyHostCert(cs.PeerCertificates, fp); err != nil {
				return fmt.Errorf("network host %s: %w", l.remote, err)
			}
			return nil
		}
		return cfg
	}
	if s.opts.FederationCert != nil {
		present(s.opts.FederationCert)
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		l.peerCertValid.Store(verifyPeerCert(cs.PeerCertificates, l.remote, s.opts.Roots, time.Now()) == nil)
		return nil
	}
	return cfg
}
