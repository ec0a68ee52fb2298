package bridge

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// TLSCertificate returns the certificate a Go TLS client presents to log in with a
// bridge certificate: certDER byte for byte, signed for with key, and a Leaf made from the
// raw DER (names and public key only), since crypto/x509 may be unable to parse it. It
// fails when key is not the certificate's key.
func TLSCertificate(certDER []byte, key crypto.Signer) (tls.Certificate, error) {
	der := bytes.Clone(certDER)
	f, err := parseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	certKey, err := certificateKey(f)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := checkPublicKey(key.Public()); err != nil {
		return tls.Certificate{}, fmt.Errorf("private key: %w", err)
	}
	if err := matchKey(certKey, key.Public()); err != nil {
		return tls.Certificate{}, err
	}
	leaf := &x509.Certificate{
		Raw:                     der,
		RawTBSCertificate:       f.tbs,
		RawSubjectPublicKeyInfo: f.spki,
		RawSubject:              f.subject,
		RawIssuer:               f.issuer,
		Version:                 int(f.version) + 1,
		PublicKey:               certKey,
		PublicKeyAlgorithm:      publicKeyAlgorithm(certKey),
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// publicKeyAlgorithm names the algorithm of a key that passed checkPublicKey.
func publicKeyAlgorithm(pub crypto.PublicKey) x509.PublicKeyAlgorithm {
	switch pub.(type) {
	case *rsa.PublicKey:
		return x509.RSA
	case *ecdsa.PublicKey:
		return x509.ECDSA
	case ed25519.PublicKey:
		return x509.Ed25519
	}
	return x509.UnknownPublicKeyAlgorithm
}
