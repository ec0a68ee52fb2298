package server

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerateCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := GenerateCertificate(cert, key, testNetwork); err != nil {
		t.Fatal(err)
	}
	conf, err := newTLSConfig(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname(testNetwork); err != nil {
		t.Error(err)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode())
	}
	if _, err := newTLSConfig(cert, filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
}

func TestHandshakeFailure(t *testing.T) {
	for msg, want := range map[string]string{
		"tls: client certificate contains an unsupported public key of type *dsa.PublicKey": "dsa-client-key",
		"tls: failed to parse client certificate: x509: malformed":                          "bad-client-certificate",
		"remote error: tls: bad certificate":                                                "handshake-error",
	} {
		if got := handshakeFailure(errors.New(msg)); got != want {
			t.Errorf("%q: %s, want %s", msg, got, want)
		}
	}
	if got := handshakeFailure(os.ErrDeadlineExceeded); got != "timeout" {
		t.Errorf("deadline: %s", got)
	}
}
