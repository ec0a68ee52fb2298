package bridge

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
)

// TestX509Overlay is the guard for builds without the overlay from tools/x509overlay:
// it fails, saying how to run the tests, when crypto/x509 refuses bridge certificates.
// With the overlay it checks that crypto/x509 takes both fixture forms and stays as
// strict as the standard library everywhere else.
func TestX509Overlay(t *testing.T) {
	requireOverlay(t)
	for _, f := range loadFixtures(t) {
		for form, der := range map[string][]byte{"client": f.cert, "standard": f.stdsanCert} {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatalf("%s %s: %v", f.name, form, err)
			}
			// The large-arc extension is kept, with no Id, after the ones Go knows.
			last := cert.Extensions[len(cert.Extensions)-1]
			if last.Id != nil || last.Critical || !bytes.HasPrefix(last.Value, []byte{3, 0x82}) || !bytes.HasSuffix(last.Value, f.ring) {
				t.Errorf("%s %s: last extension %v critical=%v, %d bytes", f.name, form, last.Id, last.Critical, len(last.Value))
			}
			if !cert.IsCA || len(cert.UnhandledCriticalExtensions) != 0 || cert.PublicKeyAlgorithm != x509.RSA {
				t.Errorf("%s %s: CA=%v unhandled=%v key=%v", f.name, form, cert.IsCA, cert.UnhandledCriticalExtensions, cert.PublicKeyAlgorithm)
			}
		}
	}

	signer := testSigner()
	ring := []byte{3, 2, 0, 'a'}
	refused := []struct {
		name string
		exts []extension
		says string
	}{
		{"critical large-arc extension", []extension{{oid: keyRingOIDDER, critical: true, value: ring}}, "critical extension with an OID arc too large"},
		{"large-arc extension twice", []extension{{oid: keyRingOIDDER, value: ring}, {oid: keyRingOIDDER, value: ring}}, "duplicate extension"},
		// Without an Id the two cannot be told apart, so distinct large-arc OIDs are refused
		// too: stricter than needed, and no client sends two.
		{"two distinct large-arc extensions", []extension{{oid: keyRingOIDDER, value: ring}, {oid: "\x69\xc9\xe8\xa2\xa8\x8d\xcb\xe0\x1b", value: ring}}, "duplicate extension"},
		{"non-minimal large-arc OID", []extension{{oid: "\x69\x80\xc9\xe8\xa2\xa8\x8d\xcb\xe0\x1b", value: ring}}, "malformed extension OID"},
		{"unfinished OID", []extension{{oid: "\x69\xc9\xe8", value: ring}}, "malformed extension OID"},
		{"empty OID", []extension{{oid: "", value: ring}}, "malformed extension OID"},
	}
	for _, tt := range refused {
		_, err := x509.ParseCertificate(craftCertificate(t, signer, tt.exts))
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: err = %v, want it to say %q", tt.name, err, tt.says)
		}
	}
}
