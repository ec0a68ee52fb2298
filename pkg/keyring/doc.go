// Package keyring implements Kontalk user keys: the network's server key
// certifies each user's OpenPGP key (RFC 4880 v4 keys and signatures), and
// this package checks that certification for c2s login (SASL EXTERNAL,
// RFC 6120 §6.4, with the key ring carried in the client's bridge
// certificate), for in-band registration (XEP-0077) and for key rollover.
//
// A user is identified by a user ID "Name <localpart@domain>" on their key,
// where localpart is the lower-case hex SHA-1 of the E.164 phone number and
// domain is the network domain. [Verify] accepts a key when that user ID has
// a valid self-signature and a valid certification (signature types
// 0x10–0x13) by a server key in a [Trust] set, and the master key is neither
// revoked nor expired. Several server keys can be trusted at once, so the
// certifying key can be rotated without invalidating earlier
// certifications. [Inspect] makes the same checks except the certification;
// [ServerKey.Certify] adds the certification; [VerifyRevocation] and
// [IsNewer] serve key rollover. Refusals are *[Error] values whose [Reason]
// is fit for a SASL failure text, a log field or a metric label.
//
// Server key algorithm: [GenerateServerKey] makes RSA v4 keys (3072 bits by
// default). Kontalk's Android client parses its own certified key ring, and
// the server's key, with Bouncy Castle (SpongyCastle 1.54 in older builds,
// 1.6x later), which rejects a signature packet whose public-key algorithm
// it does not know: EdDSA (algorithm 22) arrived in later releases, Ed25519
// as algorithm 27 only in 1.78. A certification by an Ed25519 server key
// would make the client's own key ring unreadable, so [LoadServerKey] only
// accepts RSA keys. Older server keys kept for verification
// ([ParseServerPublicKey]) may use any algorithm go-crypto verifies.
//
// Signature policy (github.com/ProtonMail/go-crypto v1.5.2, openpgp/v2):
// self-signatures and certifications made with SHA-1 are accepted, because
// keys from Bouncy Castle and certifications from gpg 1.x use it. The
// library's defaults already allow this: it refuses SHA-1 only for message
// signatures (RejectMessageHashAlgorithms, not used here), and its DSA,
// ElGamal and RSA-size rejections only apply when it picks a key to sign or
// encrypt with. MD5 and RIPEMD-160 signatures are not even parsed in v4
// packets (they are skipped as unsupported, so count as absent). The
// policy is nonetheless written out in the code (SHA-1 allowed, MD5 and
// RIPEMD-160 refused, critical notations refused) so that a change of the
// library's defaults cannot lock real clients out unnoticed. The fixtures'
// own self-signatures use SHA-256; the tests re-sign one with SHA-1.
//
// Bounds: a user ring arrives before authentication, so it is limited to
// [MaxRingSize] bytes and eight signatures that may need checking, and the
// master key must be RSA of 2048 to 4096 bits, ECDSA on P-256 or Ed25519.
// DSA master keys are refused outright, as Go's crypto/tls cannot use
// their bridge certificates. Signatures dated up to [MaxClockSkew] in the
// future are accepted, for phone and host clocks that run ahead.
package keyring
