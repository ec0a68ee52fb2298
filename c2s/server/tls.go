package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// ALPN is the protocol name of XMPP client streams over direct TLS
// (XEP-0368).
const ALPN = "xmpp-client"

// newTLSConfig loads the server certificate. The server asks every client
// for a certificate and accepts any, self-signed included: Kontalk's
// bridge certificates are checked by SASL EXTERNAL (sasl.go), not by the
// TLS stack, and registering clients have none yet.
func newTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("c2s: TLS certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{ALPN},
	}, nil
}

// handshakeFailure names why a TLS handshake failed, for the log and the
// metric label.
func handshakeFailure(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "*dsa.PublicKey"):
		// Legacy Kontalk keys (the clients' SHA1WithDSA branch): Go's TLS
		// stack has no DSA, so such a client can never log in here.
		return "dsa-client-key"
	case strings.Contains(msg, "unsupported public key"):
		return "unsupported-client-key"
	case strings.Contains(msg, "failed to parse client certificate"):
		return "bad-client-certificate"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "handshake-error"
}

// GenerateCertificate writes a self-signed ECDSA P-256 certificate for
// domain, valid for a year, and its key as PEM files: a server
// certificate for development, which clients must be told to trust.
func GenerateCertificate(certFile, keyFile, domain string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("c2s: generate certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return fmt.Errorf("c2s: generate certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domain},
		DNSNames:     []string{domain},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("c2s: generate certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("c2s: generate certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("c2s: generate certificate: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("c2s: generate certificate: %w", err)
	}
	return nil
}
