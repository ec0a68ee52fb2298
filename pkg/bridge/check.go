package bridge

import (
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"time"
)

// CheckX509 reports whether crypto/x509, as linked into this binary, parses bridge
// certificates in both subjectAltName encodings; crypto/tls accepts them as client
// certificates exactly when it does. It returns an error wrapping ErrX509NotPatched for a
// binary built without the overlay from tools/x509overlay. A server calls it at start-up,
// so that such a build refuses to run instead of failing every client's handshake.
func CheckX509() error {
	// A fixed key: the certificate is parsed, never trusted, so it needs no secret.
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	created := time.Date(2014, time.January, 1, 0, 0, 0, 0, time.UTC)
	for _, standard := range []bool{false, true} {
		der, err := NewCertificate(key, []byte("key ring"), Template{
			UserIDs:           []string{"x509 check <check@kontalk.invalid>"},
			NotBefore:         created,
			NotAfter:          created,
			StandardOtherName: standard,
		})
		if err != nil {
			return fmt.Errorf("bridge: build the x509 check certificate: %w", err)
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			return fmt.Errorf("%w: %w", ErrX509NotPatched, err)
		}
	}
	return nil
}
