package bridge

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is one client identity from testdata/ (copied from shared/testdata/kontalk-bridge).
type fixture struct {
	name       string
	cert       []byte // the clients' encoding
	stdsanCert []byte // the same with a standard [0] EXPLICIT otherName
	ring       []byte // binary public key ring, as in the extension
	key        *rsa.PrivateKey
	userID     string
	created    time.Time
	master     crypto.PublicKey // the ring's master key, parsed by an OpenPGP library
}

// loadFixtures loads both client layouts.
func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	return []fixture{loadFixture(t, "android"), loadFixture(t, "legacy")}
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	read := func(suffix string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name+suffix))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f := fixture{
		name:       name,
		cert:       read(".cert.der"),
		stdsanCert: read(".cert-stdsan.der"),
		ring:       read(".pgp-public.bin"),
	}
	block, _ := pem.Decode(read(".tls-key.pem"))
	if block == nil {
		t.Fatalf("%s: no PEM block in the TLS key", name)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: TLS key: %v", name, err)
	}
	f.key = key
	entities, err := openpgp.ReadKeyRing(bytes.NewReader(f.ring))
	if err != nil || len(entities) != 1 {
		t.Fatalf("%s: key ring: %d entities, %v", name, len(entities), err)
	}
	entity := entities[0]
	if len(entity.Identities) != 1 {
		t.Fatalf("%s: key ring has %d user IDs, want 1", name, len(entity.Identities))
	}
	for uid := range entity.Identities {
		f.userID = uid
	}
	f.created = entity.PrimaryKey.CreationTime
	f.master = entity.PrimaryKey.PublicKey
	return f
}

// masterKeyOf parses a key ring the way a server would and returns its master key.
func masterKeyOf(ring []byte) (crypto.PublicKey, error) {
	entities, err := openpgp.ReadKeyRing(bytes.NewReader(ring))
	if err != nil {
		return nil, err
	}
	return entities[0].PrimaryKey.PublicKey, nil
}

// testSigner is a fixed Ed25519 key for certificates whose key does not matter.
func testSigner() ed25519.PrivateKey {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	return ed25519.NewKeyFromSeed(seed)
}

// testTemplate is a plausible template for crafted certificates.
func testTemplate() Template {
	created := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	return Template{
		UserIDs:   []string{"Test User <0123456789abcdef0123456789abcdef01234567@kontalk.test>"},
		NotBefore: created,
		NotAfter:  created,
	}
}

// craftCertificate signs a certificate with exactly the given extensions, to build the
// malformed variants NewCertificate refuses to make.
func craftCertificate(t testing.TB, signer crypto.Signer, exts []extension) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	der, err := signCertificate(signer, spki, testTemplate(), exts)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// requireOverlay stops a test that needs crypto/x509 to accept bridge certificates, with
// the reason and the way to run it, when the test binary was built without the overlay.
func requireOverlay(t testing.TB) {
	t.Helper()
	if err := CheckX509(); err != nil {
		t.Fatalf("%v\n\nThis test binary was built without the x509 overlay. Run the tests through make\n"+
			"(make test), or from pkg/ after generating the overlay:\n"+
			"\tGOFLAGS=\"$(go env GOFLAGS) $(make -s -C .. x509overlay)\" go test ./bridge/", err)
	}
}
