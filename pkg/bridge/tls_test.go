package bridge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// serverIdentity is a throwaway TLS server certificate and the pool that trusts it.
type serverIdentity struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

const serverName = "kontalk.test"

func newServerIdentity(t testing.TB) serverIdentity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: serverName},
		DNSNames:              []string{serverName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return serverIdentity{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots: roots}
}

// handshakeCase is one way of connecting.
type handshakeCase struct {
	version    uint16
	starttls   bool // negotiate in clear text first, as XMPP does on port 5222
	clientAuth tls.ClientAuthType
}

func (c handshakeCase) String() string {
	mode := "direct"
	if c.starttls {
		mode = "starttls"
	}
	return fmt.Sprintf("%s/%s/%v", tls.VersionName(c.version), mode, c.clientAuth)
}

// handshake connects a Go TLS client presenting clientCert to a Go TLS server over
// loopback TCP and returns the raw certificate the server saw. The client waits for a
// byte from the server, so a refusal of its certificate under TLS 1.3 surfaces too.
func handshake(t *testing.T, server serverIdentity, clientCert tls.Certificate, hc handshakeCase) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type result struct {
		peer []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		peer, err := serve(ctx, ln, server, hc)
		done <- result{peer, err}
	}()

	clientErr := dial(ctx, ln.Addr().String(), server, clientCert, hc)
	ln.Close() // a client that never connected must not leave the server in Accept
	res := <-done
	if res.err != nil {
		return nil, fmt.Errorf("server: %w", res.err)
	}
	if clientErr != nil {
		return nil, fmt.Errorf("client: %w", clientErr)
	}
	return res.peer, nil
}

func serve(ctx context.Context, ln net.Listener, server serverIdentity, hc handshakeCase) ([]byte, error) {
	conn, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return nil, err
		}
	}
	if hc.starttls {
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || line != "<starttls/>\n" {
			return nil, fmt.Errorf("starttls: %q, %v", line, err)
		}
		if _, err := io.WriteString(conn, "<proceed/>\n"); err != nil {
			return nil, err
		}
	}
	tlsConn := tls.Server(conn, &tls.Config{
		Certificates: []tls.Certificate{server.cert},
		ClientAuth:   hc.clientAuth,
		MinVersion:   hc.version,
		MaxVersion:   hc.version,
	})
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	state := tlsConn.ConnectionState()
	if state.Version != hc.version || len(state.PeerCertificates) == 0 {
		return nil, fmt.Errorf("%s with %d peer certificates", tls.VersionName(state.Version), len(state.PeerCertificates))
	}
	if _, err := tlsConn.Write([]byte{1}); err != nil {
		return nil, err
	}
	return state.PeerCertificates[0].Raw, nil
}

func dial(ctx context.Context, addr string, server serverIdentity, clientCert tls.Certificate, hc handshakeCase) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return err
		}
	}
	if hc.starttls {
		if _, err := io.WriteString(conn, "<starttls/>\n"); err != nil {
			return err
		}
		// Read byte by byte: nothing of the TLS stream may be buffered away.
		var line []byte
		for !bytes.HasSuffix(line, []byte("\n")) {
			b := make([]byte, 1)
			if _, err := conn.Read(b); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
			line = append(line, b[0])
		}
		if string(line) != "<proceed/>\n" {
			return fmt.Errorf("starttls: %q", line)
		}
	}
	tlsConn := tls.Client(conn, &tls.Config{
		Certificates: []tls.Certificate{clientCert},
		RootCAs:      server.roots,
		ServerName:   serverName,
		MinVersion:   hc.version,
		MaxVersion:   hc.version,
	})
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return err
	}
	_, err = io.ReadFull(tlsConn, make([]byte, 1))
	return err
}

func handshakeCases() []handshakeCase {
	var cases []handshakeCase
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, starttls := range []bool{false, true} {
			for _, auth := range []tls.ClientAuthType{tls.RequireAnyClientCert, tls.RequestClientCert} {
				cases = append(cases, handshakeCase{version: version, starttls: starttls, clientAuth: auth})
			}
		}
	}
	return cases
}

// checkPeer is what a server does with the certificate a client logged in with: take the
// key ring from it, parse the ring, and check that its master key signed the handshake.
func checkPeer(peerDER []byte) error {
	ring, err := PublicKeyRing(peerDER)
	if err != nil {
		return err
	}
	master, err := masterKeyOf(ring)
	if err != nil {
		return fmt.Errorf("key ring: %w", err)
	}
	return MatchesKey(peerDER, master)
}

// TestTLSFixtures logs in with every fixture in both encodings, over TLS 1.2 and 1.3,
// direct and after a clear-text upgrade, and checks what the server reads.
func TestTLSFixtures(t *testing.T) {
	requireOverlay(t)
	server := newServerIdentity(t)
	for _, f := range loadFixtures(t) {
		for form, der := range map[string][]byte{"client": f.cert, "standard": f.stdsanCert} {
			clientCert, err := TLSCertificate(der, f.key)
			if err != nil {
				t.Fatalf("%s %s: %v", f.name, form, err)
			}
			for _, hc := range handshakeCases() {
				peer, err := handshake(t, server, clientCert, hc)
				if err != nil {
					t.Errorf("%s %s %v: %v", f.name, form, hc, err)
					continue
				}
				if !bytes.Equal(peer, der) {
					t.Errorf("%s %s %v: server saw another certificate", f.name, form, hc)
				}
				ring, err := PublicKeyRing(peer)
				if err != nil || !bytes.Equal(ring, f.ring) {
					t.Errorf("%s %s %v: ring differs from %s.pgp-public.bin: %v", f.name, form, hc, f.name, err)
				}
				if err := checkPeer(peer); err != nil {
					t.Errorf("%s %s %v: %v", f.name, form, hc, err)
				}
			}
		}
	}
}

// TestTLSRefusals completes the handshake with certificates a server must refuse, and
// checks the reason it finds.
func TestTLSRefusals(t *testing.T) {
	requireOverlay(t)
	server := newServerIdentity(t)
	android := loadFixture(t, "android")
	legacy := loadFixture(t, "legacy")
	tmpl := Template{UserIDs: []string{legacy.userID}, NotBefore: legacy.created, NotAfter: legacy.created}

	plainTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plain"}, NotBefore: legacy.created, NotAfter: legacy.created}
	plain, err := x509.CreateCertificate(rand.Reader, plainTmpl, plainTmpl, &legacy.key.PublicKey, legacy.key)
	if err != nil {
		t.Fatal(err)
	}
	truncatedRing, err := NewCertificate(legacy.key, legacy.ring[:len(legacy.ring)/2], tmpl)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&legacy.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	truncatedExtension, err := signCertificate(legacy.key, spki, tmpl, []extension{{oid: keyRingOIDDER, value: []byte{3, 0x82, 2, 0x9a, 0, 0x98}}})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := NewCertificate(legacy.key, android.ring, tmpl)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		der  []byte
		want error // nil: any error
	}{
		{"no key ring extension", plain, ErrNoKeyRing},
		{"truncated extension", truncatedExtension, ErrMalformedKeyRing},
		{"truncated key ring", truncatedRing, nil},
		{"key ring of another key", otherKey, ErrKeyMismatch},
	}
	for _, tt := range tests {
		clientCert, err := TLSCertificate(tt.der, legacy.key)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			peer, err := handshake(t, server, clientCert, handshakeCase{version: version, clientAuth: tls.RequireAnyClientCert})
			if err != nil {
				t.Fatalf("%s %s: %v", tt.name, tls.VersionName(version), err)
			}
			err = checkPeer(peer)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("%s %s: checkPeer = %v, want %v", tt.name, tls.VersionName(version), err, tt.want)
			}
		}
	}
}

func TestTLSCertificateRefuses(t *testing.T) {
	android := loadFixture(t, "android")
	legacy := loadFixture(t, "legacy")
	if _, err := TLSCertificate(android.cert, legacy.key); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("another key: err = %v, want ErrKeyMismatch", err)
	}
	if _, err := TLSCertificate(android.cert[:10], android.key); !errors.Is(err, ErrMalformedCertificate) {
		t.Errorf("truncated: err = %v, want ErrMalformedCertificate", err)
	}
	cert, err := TLSCertificate(android.cert, android.key)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := cert.Leaf.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&android.key.PublicKey) || cert.Leaf.PublicKeyAlgorithm != x509.RSA {
		t.Errorf("leaf key %T %v", cert.Leaf.PublicKey, cert.Leaf.PublicKeyAlgorithm)
	}
	if !bytes.Equal(cert.Certificate[0], android.cert) || !bytes.Equal(cert.Leaf.RawSubject, cert.Leaf.RawIssuer) {
		t.Error("certificate or leaf names differ from the DER")
	}
}
