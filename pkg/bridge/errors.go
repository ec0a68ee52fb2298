package bridge

import "errors"

var (
	// ErrMalformedCertificate means the DER is not an X.509 certificate this package can walk.
	ErrMalformedCertificate = errors.New("bridge: malformed certificate")
	// ErrNoKeyRing means the certificate has no OpenPGP key ring extension: it is not a
	// bridge certificate.
	ErrNoKeyRing = errors.New("bridge: certificate has no OpenPGP key ring extension")
	// ErrMalformedKeyRing means the key ring extension's value is not a DER BIT STRING
	// holding whole octets.
	ErrMalformedKeyRing = errors.New("bridge: malformed OpenPGP key ring extension")
	// ErrKeyMismatch means the certificate's key is not the OpenPGP master key it was
	// compared with: whoever signed the certificate does not own that OpenPGP key.
	ErrKeyMismatch = errors.New("bridge: certificate key differs from the OpenPGP master key")
	// ErrUnsupportedKey means a key of a type Go's TLS stack cannot use (DSA) or that
	// this package does not know.
	ErrUnsupportedKey = errors.New("bridge: unsupported key")
	// ErrX509NotPatched means crypto/x509 in this binary refuses bridge certificates,
	// because the binary was built without the overlay from tools/x509overlay.
	ErrX509NotPatched = errors.New("bridge: crypto/x509 refuses bridge certificates: built without the x509 overlay (build with make, see docs/decisions.md)")
)
