// Package keytest makes Kontalk user keys for tests, in the layout the
// Android client generates (org.kontalk.crypto.PGP create/store): an
// RSA-2048 master key flagged certify and authenticate, an ECDSA P-256
// signing subkey with its primary key binding (back) signature, an ECDH
// P-256 encryption subkey, and the user ID "Name <localpart@domain>".
// Options produce the variants tests of refusals need. Production code
// must not import it: keys are made unencrypted and with the options'
// shortcuts.
package keytest
