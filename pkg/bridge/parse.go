package bridge

import (
	"bytes"
	"crypto/x509"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// KeyRingExtensionOID identifies the extension that carries the OpenPGP public key ring:
// the UUID 24e844a0-6cbc-11e3-8997-0002a5d5c51b as an OID under 2.25 (ITU-T X.667).
const KeyRingExtensionOID = "2.25.49058212633447845622587297037800555803"

// keyRingOIDDER is the DER body of KeyRingExtensionOID, compared byte for byte while
// walking extensions; a test checks it against x509.ParseOID.
const keyRingOIDDER = "\x69\xc9\xe8\xa2\xa8\x8d\xcb\xe0\xc7\xc7\x89\xcb\xc0\x80\xaa\xae\xd7\x8a\x1b"

// certificateFields are the raw parts of a certificate that this package reads. The
// slices alias the DER they were read from.
type certificateFields struct {
	tbs        []byte // TBSCertificate element, tag and length included
	version    int64  // 0 for v1 ... 2 for v3, as encoded
	issuer     []byte // Name element
	subject    []byte // Name element
	spki       []byte // SubjectPublicKeyInfo element
	extensions []extensionField
}

// extensionField is one Extension as encoded.
type extensionField struct {
	oid      []byte // OBJECT IDENTIFIER body
	critical bool
	value    []byte // OCTET STRING body
}

// parseCertificate walks a DER certificate (RFC 5280 §4.1) without crypto/x509, so it
// reads certificates whose extension OIDs crypto/x509 refuses. It checks the structure
// down to each extension and leaves the contents of names, dates and signatures alone.
func parseCertificate(der []byte) (certificateFields, error) {
	var f certificateFields
	input := cryptobyte.String(der)
	var cert, tbs, tbsElement cryptobyte.String
	if !input.ReadASN1(&cert, asn1.SEQUENCE) {
		return f, fmt.Errorf("%w: not a DER SEQUENCE, or truncated", ErrMalformedCertificate)
	}
	if !input.Empty() {
		return f, fmt.Errorf("%w: %d bytes after the certificate", ErrMalformedCertificate, len(input))
	}
	if !cert.ReadASN1Element(&tbsElement, asn1.SEQUENCE) {
		return f, fmt.Errorf("%w: tbsCertificate", ErrMalformedCertificate)
	}
	if !cert.SkipASN1(asn1.SEQUENCE) {
		return f, fmt.Errorf("%w: signatureAlgorithm", ErrMalformedCertificate)
	}
	if !cert.SkipASN1(asn1.BIT_STRING) {
		return f, fmt.Errorf("%w: signatureValue", ErrMalformedCertificate)
	}
	if !cert.Empty() {
		return f, fmt.Errorf("%w: data after signatureValue", ErrMalformedCertificate)
	}
	f.tbs = tbsElement

	tbs = tbsElement
	if !tbs.ReadASN1(&tbs, asn1.SEQUENCE) {
		return f, fmt.Errorf("%w: tbsCertificate", ErrMalformedCertificate)
	}
	var version cryptobyte.String
	var hasVersion bool
	if !tbs.ReadOptionalASN1(&version, &hasVersion, asn1.Tag(0).Constructed().ContextSpecific()) {
		return f, fmt.Errorf("%w: version", ErrMalformedCertificate)
	}
	if hasVersion && (!version.ReadASN1Integer(&f.version) || !version.Empty() || f.version < 0 || f.version > 2) {
		return f, fmt.Errorf("%w: version", ErrMalformedCertificate)
	}
	var issuer, subject, spki cryptobyte.String
	var missing string
	switch {
	case !tbs.SkipASN1(asn1.INTEGER):
		missing = "serialNumber"
	case !tbs.SkipASN1(asn1.SEQUENCE):
		missing = "signature"
	case !tbs.ReadASN1Element(&issuer, asn1.SEQUENCE):
		missing = "issuer"
	case !tbs.SkipASN1(asn1.SEQUENCE):
		missing = "validity"
	case !tbs.ReadASN1Element(&subject, asn1.SEQUENCE):
		missing = "subject"
	case !tbs.ReadASN1Element(&spki, asn1.SEQUENCE):
		missing = "subjectPublicKeyInfo"
	}
	if missing != "" {
		return f, fmt.Errorf("%w: %s", ErrMalformedCertificate, missing)
	}
	f.issuer, f.subject, f.spki = issuer, subject, spki
	if !tbs.SkipOptionalASN1(asn1.Tag(1).ContextSpecific()) || !tbs.SkipOptionalASN1(asn1.Tag(2).ContextSpecific()) {
		return f, fmt.Errorf("%w: unique identifiers", ErrMalformedCertificate)
	}
	var explicit, extensions cryptobyte.String
	var hasExtensions bool
	if !tbs.ReadOptionalASN1(&explicit, &hasExtensions, asn1.Tag(3).Constructed().ContextSpecific()) {
		return f, fmt.Errorf("%w: extensions", ErrMalformedCertificate)
	}
	if !tbs.Empty() {
		return f, fmt.Errorf("%w: data after extensions", ErrMalformedCertificate)
	}
	if !hasExtensions {
		return f, nil
	}
	if f.version != 2 {
		return f, fmt.Errorf("%w: extensions in a v%d certificate", ErrMalformedCertificate, f.version+1)
	}
	if !explicit.ReadASN1(&extensions, asn1.SEQUENCE) || !explicit.Empty() || extensions.Empty() {
		return f, fmt.Errorf("%w: extensions", ErrMalformedCertificate)
	}
	for !extensions.Empty() {
		ext, err := parseExtension(&extensions)
		if err != nil {
			return f, err
		}
		f.extensions = append(f.extensions, ext)
	}
	return f, nil
}

// parseExtension reads one Extension. Its OID is checked with x509.OID, which takes
// arcs of any size.
func parseExtension(extensions *cryptobyte.String) (extensionField, error) {
	var ext extensionField
	var seq, oid, value cryptobyte.String
	if !extensions.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) {
		return ext, fmt.Errorf("%w: extension", ErrMalformedCertificate)
	}
	var checked x509.OID
	if err := checked.UnmarshalBinary(oid); err != nil {
		return ext, fmt.Errorf("%w: extension OID: %w", ErrMalformedCertificate, err)
	}
	if seq.PeekASN1Tag(asn1.BOOLEAN) && !seq.ReadASN1Boolean(&ext.critical) {
		return ext, fmt.Errorf("%w: extension %s: critical flag", ErrMalformedCertificate, checked)
	}
	if !seq.ReadASN1(&value, asn1.OCTET_STRING) || !seq.Empty() {
		return ext, fmt.Errorf("%w: extension %s: value", ErrMalformedCertificate, checked)
	}
	ext.oid = oid
	ext.value = value
	return ext, nil
}

// PublicKeyRing returns the binary OpenPGP public key ring carried by a bridge
// certificate, read from the raw DER (crypto/x509 is not involved). The ring is returned
// as encoded: checking its signatures, and that its master key is the certificate's key
// (MatchesKey), is the caller's job.
func PublicKeyRing(certDER []byte) ([]byte, error) {
	f, err := parseCertificate(certDER)
	if err != nil {
		return nil, err
	}
	var found *extensionField
	for i := range f.extensions {
		if string(f.extensions[i].oid) != keyRingOIDDER {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: the extension appears twice", ErrMalformedKeyRing)
		}
		found = &f.extensions[i]
	}
	if found == nil {
		return nil, ErrNoKeyRing
	}
	ring, err := keyRingFromValue(found.value)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(ring), nil
}

// keyRingFromValue unwraps the extension value: one DER BIT STRING of whole octets.
func keyRingFromValue(value []byte) ([]byte, error) {
	v := cryptobyte.String(value)
	if !v.PeekASN1Tag(asn1.BIT_STRING) {
		return nil, fmt.Errorf("%w: value is not a BIT STRING", ErrMalformedKeyRing)
	}
	var bits cryptobyte.String
	if !v.ReadASN1(&bits, asn1.BIT_STRING) {
		return nil, fmt.Errorf("%w: truncated or badly encoded BIT STRING", ErrMalformedKeyRing)
	}
	if !v.Empty() {
		return nil, fmt.Errorf("%w: %d bytes after the BIT STRING", ErrMalformedKeyRing, len(v))
	}
	var unused uint8
	if !bits.ReadUint8(&unused) {
		return nil, fmt.Errorf("%w: BIT STRING without its unused-bits octet", ErrMalformedKeyRing)
	}
	if unused != 0 {
		return nil, fmt.Errorf("%w: BIT STRING has %d unused bits, a key ring is whole octets", ErrMalformedKeyRing, unused)
	}
	if bits.Empty() {
		return nil, fmt.Errorf("%w: empty key ring", ErrMalformedKeyRing)
	}
	return bits, nil
}
