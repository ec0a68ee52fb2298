package keyring_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kontalk/xmppd/pkg/keyring"
)

func BenchmarkVerify(b *testing.B) {
	srv := serverKey(b, 0)
	tr := trust(b, srv.Public(), serverKey(b, 1).Public())
	for _, fx := range fixtures {
		signed := certify(b, srv, readFile(b, fx.file), testNow)
		b.Run(fx.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keyring.Verify(signed, domain, tr, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCertify(b *testing.B) {
	srv := serverKey(b, 0)
	ring := readFile(b, "android.pgp-public.bin")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := srv.Certify(ring, domain, testNow.Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// hostileRing is the costliest ring the bounds allow, as an attacker could
// put it in a bridge certificate before authenticating: a 4096-bit RSA
// "key" (any odd number will do), a user ID, and self-signatures up to the
// signature limit, dated so that go-crypto checks every one.
func hostileRing(b *testing.B, sigs int) []byte {
	b.Helper()
	nb := make([]byte, 512)
	if _, err := rand.Read(nb); err != nil {
		b.Fatal(err)
	}
	nb[0] |= 0x80
	nb[len(nb)-1] |= 1
	n := new(big.Int).SetBytes(nb)
	pk := packet.NewRSAPublicKey(testNow.Add(-time.Hour), &rsa.PublicKey{N: n, E: 65537})
	var ring bytes.Buffer
	if err := pk.Serialize(&ring); err != nil {
		b.Fatal(err)
	}
	if err := packet.NewUserId("Hostile", "", "0123456789012345678901234567890123456789@"+domain).Serialize(&ring); err != nil {
		b.Fatal(err)
	}
	for i := range sigs {
		var body bytes.Buffer
		body.Write([]byte{4, 0x13, 1, 8}) // v4, positive certification, RSA, SHA-256
		hashed := []byte{5, 2, 0, 0, 0, 0, 22, 33, 4}
		binary.BigEndian.PutUint32(hashed[2:], uint32(testNow.Add(time.Duration(i-sigs)*time.Minute).Unix()))
		hashed = append(hashed, pk.Fingerprint...)
		body.Write(binary.BigEndian.AppendUint16(nil, uint16(len(hashed))))
		body.Write(hashed)
		body.Write([]byte{0, 10, 9, 16})
		body.Write(binary.BigEndian.AppendUint64(nil, pk.KeyId))
		body.Write([]byte{0xab, 0xcd}) // hash tag, unchecked for v4
		sig := new(big.Int).Sub(n, big.NewInt(int64(i+2))).Bytes()
		body.Write(binary.BigEndian.AppendUint16(nil, uint16(len(sig)*8)))
		body.Write(sig)
		l := body.Len() - 192
		ring.Write([]byte{0xc2, byte(l>>8) + 192, byte(l)}) // new-format tag 2, two-octet length
		ring.Write(body.Bytes())
	}
	return ring.Bytes()
}

// BenchmarkVerifyHostile measures the worst case the ring bounds allow.
func BenchmarkVerifyHostile(b *testing.B) {
	tr := trust(b, serverKey(b, 0).Public())
	ring := hostileRing(b, 8)
	if _, err := keyring.Verify(ring, domain, tr, testNow); !errors.Is(err, keyring.ErrSelfSignature) {
		b.Fatalf("hostile ring: %v", err)
	}
	if _, err := keyring.Verify(hostileRing(b, 9), domain, tr, testNow); !errors.Is(err, keyring.ErrMalformed) {
		b.Fatalf("ring over the signature limit: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = keyring.Verify(ring, domain, tr, testNow)
	}
}
