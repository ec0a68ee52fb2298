package xml

import "encoding/binary"

// Eight bytes at a time ("SIMD within a register"): the content loops
// skip plain ASCII in words and look at single bytes only around the
// word that holds something special. A base64 payload, the bulk of an
// end-to-end encrypted stanza, is plain all the way.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasZero reports whether some byte of x is zero.
func hasZero(x uint64) bool { return (x-lsb)&^x&msb != 0 }

// hasByte reports whether some byte of x equals c.
func hasByte(x uint64, c byte) bool { return hasZero(x ^ (lsb * uint64(c))) }

// hasLess reports whether some byte of x is below n (n <= 128).
func hasLess(x uint64, n byte) bool { return (x-lsb*uint64(n))&^x&msb != 0 }

// skipPlainText returns the index of the first word starting at i that
// holds a byte the text loop must look at: a control character, a
// non-ASCII byte, '<', '&' or '>'.
func skipPlainText(b []byte, i int) int {
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		if x&msb != 0 || hasLess(x, 0x20) || hasByte(x, '<') || hasByte(x, '&') || hasByte(x, '>') {
			return i
		}
		i += 8
	}
	return i
}

// skipPlainAttr is skipPlainText for attribute values, which also stop
// at quotes.
func skipPlainAttr(b []byte, i int) int {
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		if x&msb != 0 || hasLess(x, 0x20) || hasByte(x, '<') || hasByte(x, '&') || hasByte(x, '\'') || hasByte(x, '"') {
			return i
		}
		i += 8
	}
	return i
}
