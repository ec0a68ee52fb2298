package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kontalk/xmppd/pkg/devnet"
	"github.com/kontalk/xmppd/pkg/keyring"
)

// devFiles are the development credentials kept under var/: made on the
// first run, reused afterwards.
type devFiles struct {
	dir string

	ComponentSecret string
	SigningKey      string
	DialbackSecret  string
	VerifyCode      string
	Fingerprint     string

	ServerKey    string // armored private OpenPGP server key
	ServerPubKey string // armored public server key
	CACert       string // development CA, to trust the TLS certificates
	TLSCert      string // certificate for N, H and localhost
	TLSKey       string
}

func (f *devFiles) path(name string) string { return filepath.Join(f.dir, name) }

// prepare creates what is missing.
func prepare(dir, network, host string) (*devFiles, error) {
	f := &devFiles{dir: dir}
	for _, d := range []string{"secrets", "redis", "upload"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	var err error
	for _, s := range []struct {
		name string
		dst  *string
		make func() (string, error)
	}{
		{"secrets/component-secret", &f.ComponentSecret, randomHex(16)},
		{"secrets/upload-signing-key", &f.SigningKey, randomHex(32)},
		{"secrets/dialback-secret", &f.DialbackSecret, randomHex(32)},
		{"secrets/verify-code", &f.VerifyCode, randomDigits(6)},
	} {
		if *s.dst, err = readOrCreate(f.path(s.name), s.make); err != nil {
			return nil, err
		}
	}
	f.ServerKey, f.ServerPubKey = f.path(devnet.ServerKeyFile), f.path("server-key.pub.asc")
	if f.Fingerprint, err = serverKey(f.ServerKey, f.ServerPubKey, network); err != nil {
		return nil, err
	}
	f.CACert, f.TLSCert, f.TLSKey = f.path("tls/ca.pem"), f.path("tls/server.pem"), f.path("tls/server-key.pem")
	if err := tlsFiles(f.path("tls"), network, host); err != nil {
		return nil, err
	}
	return f, nil
}

func readOrCreate(path string, make func() (string, error)) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	v, err := make()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

func randomHex(n int) func() (string, error) {
	return func() (string, error) {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
}

func randomDigits(n int) func() (string, error) {
	return func() (string, error) {
		b := make([]byte, n)
		for i := range b {
			d, err := rand.Int(rand.Reader, big.NewInt(10))
			if err != nil {
				return "", err
			}
			b[i] = byte('0' + d.Int64())
		}
		return string(b), nil
	}
}

// serverKey loads or generates the network's OpenPGP server key and
// returns its fingerprint.
func serverKey(priv, pub, network string) (string, error) {
	if b, err := os.ReadFile(priv); err == nil {
		k, err := keyring.LoadServerKey(b)
		if err != nil {
			return "", fmt.Errorf("%s: %w", priv, err)
		}
		return k.Fingerprint(), nil
	}
	fmt.Fprintln(os.Stderr, "devrun: generating the development server key (RSA 3072, a few seconds)")
	k, err := keyring.GenerateServerKey("Kontalk development server", "server@"+network, keyring.ServerKeyOptions{})
	if err != nil {
		return "", err
	}
	a, err := k.ArmoredPrivate()
	if err != nil {
		return "", err
	}
	p, err := k.ArmoredPublic()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(pub, p, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(priv, a, 0o600); err != nil {
		return "", err
	}
	return k.Fingerprint(), nil
}

// tlsFiles makes a development CA and a server certificate for the
// network, the host and localhost.
func tlsFiles(dir, network, host string) error {
	if _, err := os.Stat(filepath.Join(dir, "server.pem")); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Kontalk development CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: network},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{network, host, "*." + network, "*." + host, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for _, w := range []struct {
		name, typ string
		der       []byte
		mode      os.FileMode
	}{
		{"ca.pem", "CERTIFICATE", caDER, 0o644},
		{"server.pem", "CERTIFICATE", der, 0o644},
		{"server-key.pem", "PRIVATE KEY", keyDER, 0o600},
	} {
		if err := os.WriteFile(filepath.Join(dir, w.name), pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), w.mode); err != nil {
			return err
		}
	}
	return nil
}
