package bridge

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// DER bodies of the OBJECT IDENTIFIERs written by NewCertificate; a test checks each
// against its dotted form.
const (
	oidOrganization     = "\x55\x04\x0a"                         // 2.5.4.10
	oidCommonName       = "\x55\x04\x03"                         // 2.5.4.3
	oidBasicConstraints = "\x55\x1d\x13"                         // 2.5.29.19
	oidKeyUsage         = "\x55\x1d\x0f"                         // 2.5.29.15
	oidNetscapeCertType = "\x60\x86\x48\x01\x86\xf8\x42\x01\x01" // 2.16.840.1.113730.1.1
	oidSubjectKeyID     = "\x55\x1d\x0e"                         // 2.5.29.14
	oidAuthorityKeyID   = "\x55\x1d\x23"                         // 2.5.29.35
	oidSubjectAltName   = "\x55\x1d\x11"                         // 2.5.29.17
	oidXMPPAddr         = "\x2b\x06\x01\x05\x05\x07\x08\x05"     // 1.3.6.1.5.5.7.8.5, RFC 6120 §13.7.1.4
	oidSHA1WithRSA      = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05" // 1.2.840.113549.1.1.5
	oidECDSAWithSHA256  = "\x2a\x86\x48\xce\x3d\x04\x03\x02"     // 1.2.840.10045.4.3.2
	oidECDSAWithSHA384  = "\x2a\x86\x48\xce\x3d\x04\x03\x03"     // 1.2.840.10045.4.3.3
	oidECDSAWithSHA512  = "\x2a\x86\x48\xce\x3d\x04\x03\x04"     // 1.2.840.10045.4.3.4
	oidEd25519          = "\x2b\x65\x70"                         // 1.3.101.112
)

// bridgeOrganization is the O attribute clients put first in subject and issuer.
const bridgeOrganization = "OpenPGP to X.509 Bridge"

// Template describes a bridge certificate for NewCertificate.
type Template struct {
	// UserIDs are the OpenPGP user IDs, "Name <localpart@domain>": one CN each, and one
	// xmppAddr for each that ends in an address between angle brackets.
	UserIDs []string
	// NotBefore and NotAfter are, as clients set them, the key's creation time and its
	// expiry, or the creation time again for a key that does not expire.
	NotBefore, NotAfter time.Time
	// StandardOtherName wraps each xmppAddr value in [0] EXPLICIT as RFC 5280 asks;
	// clients leave the wrapper out.
	StandardOtherName bool
}

// extension is one certificate extension to encode.
type extension struct {
	oid      string // OBJECT IDENTIFIER body
	critical bool
	value    []byte // OCTET STRING body
}

// signatureAlgorithm is how a certificate is signed with a given key.
type signatureAlgorithm struct {
	oid      string
	nullArgs bool        // RSA algorithm identifiers carry a NULL parameter
	hash     crypto.Hash // 0 for Ed25519, which signs the message itself
}

// NewCertificate builds a bridge certificate exactly as Kontalk clients do: self-signed
// by signer (the OpenPGP master key), serial 1, subject = issuer = O=OpenPGP to X.509
// Bridge plus one CN per user ID, critical basicConstraints CA=true and keyUsage,
// Netscape cert type, subject and authority key identifiers, subjectAltName xmppAddr
// otherNames, and the key ring extension holding ring. RSA keys sign with SHA-1 as the
// clients do; ECDSA and Ed25519 keys, which clients never use, sign with the matching
// SHA-2 or Ed25519. The DER is built by hand because crypto/x509.CreateCertificate cannot
// encode the clients' otherName, nor an OID with a 128-bit arc.
//
// It is meant for tests and tooling: a server never builds these.
func NewCertificate(signer crypto.Signer, ring []byte, t Template) ([]byte, error) {
	if len(ring) == 0 {
		return nil, errors.New("bridge: new certificate: empty key ring")
	}
	if len(t.UserIDs) == 0 {
		return nil, errors.New("bridge: new certificate: no user ID")
	}
	for _, uid := range t.UserIDs {
		if !utf8.ValidString(uid) {
			return nil, fmt.Errorf("bridge: new certificate: user ID %q is not UTF-8", uid)
		}
	}
	spki, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("bridge: new certificate: %w", err)
	}
	keyID, err := subjectKeyID(spki)
	if err != nil {
		return nil, fmt.Errorf("bridge: new certificate: %w", err)
	}
	extensions, err := t.extensions(keyID, ring)
	if err != nil {
		return nil, fmt.Errorf("bridge: new certificate: %w", err)
	}
	der, err := signCertificate(signer, spki, t, extensions)
	if err != nil {
		return nil, fmt.Errorf("bridge: new certificate: %w", err)
	}
	return der, nil
}

// extensions lists the extensions of a bridge certificate in the clients' order.
func (t Template) extensions(keyID, ring []byte) ([]extension, error) {
	var exts []extension
	var firstErr error
	add := func(oid string, critical bool, build cryptobyte.BuilderContinuation) {
		var b cryptobyte.Builder
		build(&b)
		value, err := b.Bytes()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("extension % x: %w", oid, err)
		}
		exts = append(exts, extension{oid: oid, critical: critical, value: value})
	}
	add(oidBasicConstraints, true, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Boolean(true) })
	})
	// digitalSignature, nonRepudiation, keyEncipherment, keyAgreement, keyCertSign.
	add(oidKeyUsage, true, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.BIT_STRING, func(b *cryptobyte.Builder) { b.AddBytes([]byte{2, 0xec}) })
	})
	// sslClient and smime.
	add(oidNetscapeCertType, false, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.BIT_STRING, func(b *cryptobyte.Builder) { b.AddBytes([]byte{5, 0xa0}) })
	})
	add(oidSubjectKeyID, false, func(b *cryptobyte.Builder) { b.AddASN1OctetString(keyID) })
	add(oidAuthorityKeyID, false, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(keyID) })
		})
	})
	if addresses := t.xmppAddresses(); len(addresses) > 0 {
		add(oidSubjectAltName, false, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, addr := range addresses {
					addOtherName(b, addr, t.StandardOtherName)
				}
			})
		})
	}
	add(keyRingOIDDER, false, func(b *cryptobyte.Builder) { b.AddASN1BitString(ring) })
	return exts, firstErr
}

// xmppAddresses returns the address of each user ID that has one, in order.
func (t Template) xmppAddresses() []string {
	var addresses []string
	for _, uid := range t.UserIDs {
		open := strings.LastIndexByte(uid, '<')
		if open < 0 || !strings.HasSuffix(uid, ">") || open+1 >= len(uid)-1 {
			continue
		}
		addresses = append(addresses, uid[open+1:len(uid)-1])
	}
	return addresses
}

// addOtherName appends an xmppAddr GeneralName. Clients put the UTF8String directly
// after the type OID; RFC 5280 wants it inside [0] EXPLICIT.
func addOtherName(b *cryptobyte.Builder, addr string, standard bool) {
	b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(oidXMPPAddr)) })
		if standard {
			b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(addr)) })
			})
			return
		}
		b.AddASN1(asn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(addr)) })
	})
}

// signCertificate encodes and signs a bridge certificate with the given extensions.
func signCertificate(signer crypto.Signer, spki []byte, t Template, extensions []extension) ([]byte, error) {
	alg, err := signatureAlgorithmFor(signer.Public())
	if err != nil {
		return nil, err
	}
	var tbs cryptobyte.Builder
	tbs.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(2) })
		b.AddASN1Int64(1)
		alg.add(b)
		addName(b, t.UserIDs)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, t.NotBefore)
			addTime(b, t.NotAfter)
		})
		addName(b, t.UserIDs)
		b.AddBytes(spki)
		if len(extensions) == 0 {
			return
		}
		b.AddASN1(asn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, ext := range extensions {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(ext.oid)) })
						if ext.critical {
							b.AddASN1Boolean(true)
						}
						b.AddASN1OctetString(ext.value)
					})
				}
			})
		})
	})
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode tbsCertificate: %w", err)
	}
	signature, err := signer.Sign(rand.Reader, digest(alg.hash, tbsDER), alg.hash)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var cert cryptobyte.Builder
	cert.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbsDER)
		alg.add(b)
		b.AddASN1BitString(signature)
	})
	return cert.Bytes()
}

// signatureAlgorithmFor picks the signature algorithm for a key: SHA-1 with RSA as the
// clients use, and the usual match for keys clients never have.
func signatureAlgorithmFor(pub crypto.PublicKey) (signatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return signatureAlgorithm{oid: oidSHA1WithRSA, nullArgs: true, hash: crypto.SHA1}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return signatureAlgorithm{oid: oidECDSAWithSHA256, hash: crypto.SHA256}, nil
		case elliptic.P384():
			return signatureAlgorithm{oid: oidECDSAWithSHA384, hash: crypto.SHA384}, nil
		case elliptic.P521():
			return signatureAlgorithm{oid: oidECDSAWithSHA512, hash: crypto.SHA512}, nil
		}
	case ed25519.PublicKey:
		return signatureAlgorithm{oid: oidEd25519}, nil
	}
	return signatureAlgorithm{}, fmt.Errorf("%w: cannot sign a certificate with %s", ErrUnsupportedKey, describeKey(pub))
}

// add appends the AlgorithmIdentifier.
func (a signatureAlgorithm) add(b *cryptobyte.Builder) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(a.oid)) })
		if a.nullArgs {
			b.AddASN1NULL()
		}
	})
}

// addName appends O=OpenPGP to X.509 Bridge and one CN per user ID, each its own RDN.
func addName(b *cryptobyte.Builder, userIDs []string) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addAttribute(b, oidOrganization, bridgeOrganization)
		for _, uid := range userIDs {
			addAttribute(b, oidCommonName, uid)
		}
	})
}

// addAttribute appends a single-valued RelativeDistinguishedName as a UTF8String.
func addAttribute(b *cryptobyte.Builder, oid, value string) {
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(oid)) })
			b.AddASN1(asn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(value)) })
		})
	})
}

// addTime appends a UTCTime for the years 1950 to 2049 and a GeneralizedTime otherwise
// (RFC 5280 §4.1.2.5), in whole seconds UTC.
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	if t.Year() >= 1950 && t.Year() < 2050 {
		b.AddASN1UTCTime(t)
		return
	}
	b.AddASN1GeneralizedTime(t)
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1),
// as clients compute it.
func subjectKeyID(spki []byte) ([]byte, error) {
	s := cryptobyte.String(spki)
	var bits cryptobyte.String
	if !s.ReadASN1(&s, asn1.SEQUENCE) || !s.SkipASN1(asn1.SEQUENCE) || !s.ReadASN1(&bits, asn1.BIT_STRING) || len(bits) == 0 {
		return nil, errors.New("malformed subjectPublicKeyInfo")
	}
	sum := sha1.Sum(bits[1:])
	return sum[:], nil
}

// digest hashes msg for signing; with no hash (Ed25519) the message itself is signed.
func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA1:
		sum := sha1.Sum(msg)
		return sum[:]
	case crypto.SHA256:
		sum := sha256.Sum256(msg)
		return sum[:]
	case crypto.SHA384:
		sum := sha512.Sum384(msg)
		return sum[:]
	case crypto.SHA512:
		sum := sha512.Sum512(msg)
		return sum[:]
	}
	return msg
}
