// Package jid handles XMPP addresses (RFC 7622). Validation and
// canonical forms come from mellium.im/xmpp/jid (PRECIS, IDNA); this
// package adds the allocation-free helpers the routing path applies to
// raw attribute bytes, falling back to full preparation for anything
// outside ASCII.
package jid

import (
	"bytes"
	"fmt"

	"mellium.im/xmpp/jid"
)

// JID is a validated address, immutable.
type JID = jid.JID

// Parse validates s and returns the JID in canonical form.
func Parse(s string) (JID, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return JID{}, fmt.Errorf("jid %q: %w", s, err)
	}
	return j, nil
}

// New builds a JID from its parts, validating them.
func New(local, domain, resource string) (JID, error) {
	j, err := jid.New(local, domain, resource)
	if err != nil {
		return JID{}, fmt.Errorf("jid %q@%q/%q: %w", local, domain, resource, err)
	}
	return j, nil
}

// Split returns the parts of an address as written, without validating
// them: the localpart ends at the first '@' before any '/', the
// resourcepart starts at the first '/'.
func Split(b []byte) (local, domain, resource []byte) {
	if i := bytes.IndexByte(b, '/'); i >= 0 {
		b, resource = b[:i], b[i+1:]
	}
	if i := bytes.IndexByte(b, '@'); i >= 0 {
		local, b = b[:i], b[i+1:]
	}
	return local, b, resource
}

// maxPart is the largest part RFC 7622 allows, in bytes.
const maxPart = 1023

// AppendDomain appends the canonical domainpart of the address b (an
// unescaped attribute value) to dst. The resourcepart is not examined
// beyond being non-empty when present: routing does not depend on it. ASCII domains are lower-cased in
// place of full IDNA processing, which gives the same result for them;
// others go through mellium's preparation. ok is false when the address
// is not valid enough to route.
func AppendDomain(dst, b []byte) (_ []byte, ok bool) {
	local, domain, resource := Split(b)
	if local != nil && len(local) == 0 || resource != nil && len(resource) == 0 {
		return dst, false
	}
	if out, ok := appendASCIIDomain(dst, domain); ok {
		return out, true
	}
	j, err := jid.New("", string(domain), "")
	if err != nil {
		return dst, false
	}
	return append(dst, j.Domainpart()...), true
}

// appendASCIIDomain lower-cases a plain ASCII DNS name (labels of
// letters, digits and inner hyphens); ok is false when the fast path does
// not apply, and the caller prepares the domain in full.
func appendASCIIDomain(dst, d []byte) ([]byte, bool) {
	if len(d) == 0 || len(d) > maxPart {
		return dst, false
	}
	label := 0
	for i, c := range d {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
			label++
		case c == '-':
			// No hyphen at either end of a label; "??--" labels are
			// reserved for IDNA (xn--) and need the full check.
			if label == 0 || i+1 == len(d) || d[i+1] == '.' || label == 2 && d[i+1] == '-' {
				return dst, false
			}
			label++
		case c == '.':
			if label == 0 || i+1 == len(d) {
				return dst, false
			}
			label = 0
		default:
			return dst, false
		}
		if label > 63 {
			return dst, false
		}
	}
	n := len(dst)
	dst = append(dst, d...)
	for i := n; i < len(dst); i++ {
		if c := dst[i]; c >= 'A' && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst, true
}

// AppendBare appends the canonical bare form (localpart@domainpart) of
// the address b to dst: the key that keeps one user's traffic on one
// instance. ok is false when the address is invalid; as in AppendDomain,
// the resourcepart is only required to be non-empty when present.
func AppendBare(dst, b []byte) (_ []byte, ok bool) {
	local, domain, resource := Split(b)
	if resource != nil && len(resource) == 0 {
		return dst, false
	}
	if len(local) == 0 {
		if local != nil {
			return dst, false
		}
		return AppendDomain(dst, domain)
	}
	if len(local) <= maxPart && plainLocal(local) {
		n := len(dst)
		dst = append(dst, local...)
		for i := n; i < len(dst); i++ {
			if c := dst[i]; c >= 'A' && c <= 'Z' {
				dst[i] = c + 'a' - 'A'
			}
		}
		dst = append(dst, '@')
		if out, ok := appendASCIIDomain(dst, domain); ok {
			return out, true
		}
		dst = dst[:n]
	}
	j, err := jid.New(string(local), string(domain), "")
	if err != nil {
		return dst, false
	}
	return append(dst, j.Bare().String()...), true
}

// plainLocal reports whether a localpart is printable ASCII without the
// characters RFC 7622 forbids, so lower-casing is its whole preparation.
func plainLocal(l []byte) bool {
	for _, c := range l {
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '"', '&', '\'', '/', ':', '<', '>', '@':
			return false
		}
	}
	return true
}
