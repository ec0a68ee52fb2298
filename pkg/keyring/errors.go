package keyring

import (
	"fmt"
	"strings"
)

// Reason says why a key ring or server key was refused. Its text is short,
// stable and free of user data, fit for a SASL failure text, a log field or
// a metric label. Every error this package returns for a refused key is an
// *[Error] whose Reason is one of the constants below, so callers can test
// with errors.Is(err, keyring.ErrKeyRevoked).
type Reason string

func (r Reason) Error() string { return string(r) }

const (
	// ErrMalformed: the bytes are not exactly one OpenPGP v4 public key
	// (armored or binary), they carry secret key material, or they exceed
	// the bounds on size and signature count.
	ErrMalformed Reason = "malformed key ring"
	// ErrUnsupportedKey: the master key's algorithm or size is not accepted
	// (DSA, RSA outside 2048–4096 bits, ECDSA on curves other than
	// NIST P-256, EdDSA on curves other than Ed25519).
	ErrUnsupportedKey Reason = "unsupported key algorithm"
	// ErrKeyRevoked: the master key carries a valid key revocation signature.
	ErrKeyRevoked Reason = "key is revoked"
	// ErrKeyExpired: the master key's lifetime, or its self-signature's, has
	// passed.
	ErrKeyExpired Reason = "key has expired"
	// ErrNoDomainUID: no user ID has an e-mail address in the network domain.
	ErrNoDomainUID Reason = "no user ID in the network domain"
	// ErrBadLocalpart: the user ID's e-mail local part is not 40 lower-case
	// hex digits (the SHA-1 of a phone number).
	ErrBadLocalpart Reason = "user ID is not a phone number hash"
	// ErrAmbiguousUID: user IDs in the domain name more than one user.
	ErrAmbiguousUID Reason = "user IDs name several users"
	// ErrSelfSignature: the user ID in the domain has no valid, unexpired,
	// unrevoked self-signature.
	ErrSelfSignature Reason = "no valid self-signature on the user ID"
	// ErrNotCertified: no valid certification of the user ID by a trusted
	// server key.
	ErrNotCertified Reason = "key is not certified by the server"
	// ErrServerKeyRevoked: the only certifications found were made by a
	// trusted server key that has since been revoked.
	ErrServerKeyRevoked Reason = "certifying server key is revoked"
	// ErrNotRevoked: a key presented as revoked (key rollover) carries no
	// valid key revocation signature.
	ErrNotRevoked Reason = "key is not revoked"
	// ErrFingerprintMismatch: the key's fingerprint is not the expected one.
	ErrFingerprintMismatch Reason = "fingerprint mismatch"
	// ErrServerKey: a server key cannot be used (no private key, encrypted,
	// revoked, expired, wrong algorithm).
	ErrServerKey Reason = "unusable server key"
)

// Error is a refused key: the Reason, what exactly was wrong (for logs, may
// name key IDs and user IDs) and the underlying library error, if any.
type Error struct {
	Reason Reason
	Detail string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("keyring: ")
	b.WriteString(string(e.Reason))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap makes errors.Is match both the Reason and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

func refuse(r Reason, detail string, err error) *Error {
	return &Error{Reason: r, Detail: detail, Err: err}
}

// recoverParser turns a panic inside go-crypto's parsers or verifiers into
// a refusal (deferred by every exported function that handles foreign
// bytes). Rings come from unauthenticated peers and the library has
// panicked on crafted input before (fixed upstream); everything the panic
// may have left half-built is local to the call. The fuzz tests fail on
// such a refusal, so it never hides a bug of this package.
func recoverParser(err *error) {
	if r := recover(); r != nil {
		*err = refuse(ErrMalformed, fmt.Sprintf("openpgp library panic: %v", r), nil)
	}
}
