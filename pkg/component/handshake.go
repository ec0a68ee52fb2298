package component

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
)

// Handshake returns the XEP-0114 handshake for a stream: the lower-case
// hex SHA-1 of the stream id followed by the secret.
func Handshake(streamID, secret string) string {
	sum := sha1.Sum([]byte(streamID + secret))
	return hex.EncodeToString(sum[:])
}

// VerifyHandshake reports whether got is the handshake for streamID and
// secret. Hex digits of either case are accepted; the comparison takes
// the same time whatever the secret.
func VerifyHandshake(streamID, secret string, got []byte) bool {
	want := Handshake(streamID, secret)
	if len(got) != len(want) {
		return false
	}
	var lower [sha1.Size * 2]byte
	for i, c := range got {
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return subtle.ConstantTimeCompare(lower[:], []byte(want)) == 1
}
