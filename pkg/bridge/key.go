package bridge

import (
	"crypto"
	"crypto/dsa" //lint:ignore SA1019 named only to refuse DSA keys with a clear reason
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// MatchesKey returns nil when the certificate's SubjectPublicKeyInfo holds pub, the
// master key of the OpenPGP key ring the certificate carries: together with the TLS
// handshake's signature this proves that the peer owns that OpenPGP key. pub must be a
// standard library key (*rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey), as
// OpenPGP packages return for RSA master keys. The certificate is read from the raw DER,
// with or without the x509 overlay.
func MatchesKey(certDER []byte, pub crypto.PublicKey) error {
	if err := checkPublicKey(pub); err != nil {
		return fmt.Errorf("OpenPGP master key: %w", err)
	}
	f, err := parseCertificate(certDER)
	if err != nil {
		return err
	}
	certKey, err := certificateKey(f)
	if err != nil {
		return err
	}
	return matchKey(certKey, pub)
}

// certificateKey parses the certificate's SubjectPublicKeyInfo into a key Go's TLS stack
// can use.
func certificateKey(f certificateFields) (crypto.PublicKey, error) {
	key, err := x509.ParsePKIXPublicKey(f.spki)
	if err != nil {
		return nil, fmt.Errorf("%w: subjectPublicKeyInfo: %w", ErrMalformedCertificate, err)
	}
	if err := checkPublicKey(key); err != nil {
		return nil, fmt.Errorf("certificate key: %w", err)
	}
	return key, nil
}

// matchKey compares two keys that passed checkPublicKey.
func matchKey(certKey, pub crypto.PublicKey) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	key, ok := certKey.(equaler)
	if !ok || !key.Equal(pub) {
		return fmt.Errorf("%w (certificate: %s, OpenPGP: %s)", ErrKeyMismatch, describeKey(certKey), describeKey(pub))
	}
	return nil
}

// checkPublicKey refuses keys Go's TLS stack cannot use and keys whose Equal would
// dereference a nil field.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return fmt.Errorf("%w: incomplete RSA key", ErrUnsupportedKey)
		}
	case *ecdsa.PublicKey:
		//lint:ignore SA1019 the coordinates are only checked for nil, which Equal would dereference
		if k == nil || k.Curve == nil || k.X == nil || k.Y == nil {
			return fmt.Errorf("%w: incomplete ECDSA key", ErrUnsupportedKey)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 key of %d bytes", ErrUnsupportedKey, len(k))
		}
	case *dsa.PublicKey:
		return fmt.Errorf("%w: DSA keys are not supported by the Go TLS stack", ErrUnsupportedKey)
	default:
		return fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	return nil
}

// describeKey names a key's type and size for error messages.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d key", k.N.BitLen())
	case *ecdsa.PublicKey:
		if params := k.Curve.Params(); params != nil {
			return fmt.Sprintf("ECDSA %s key", params.Name)
		}
		return "ECDSA key"
	case ed25519.PublicKey:
		return "Ed25519 key"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
