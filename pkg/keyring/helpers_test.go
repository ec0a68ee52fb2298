package keyring_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
)

const domain = "kontalk.test"

// testNow is after every fixture's creation and the gpg certification in
// testdata, so the tests do not depend on the wall clock.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	name      string
	file      string
	jid       string
	fpr       string
	created   int64
	localpart string
}

var fixtures = []fixture{
	{
		name:      "android",
		file:      "android.pgp-public.bin",
		jid:       "d888e3fba7e8b0b046f7b7a83f4d520a554092a1@kontalk.test",
		localpart: "d888e3fba7e8b0b046f7b7a83f4d520a554092a1",
		fpr:       "F0921F45685B4C2F4D3CCE52339A5EBC8F959C16",
		created:   1795303928,
	},
	{
		name:      "legacy",
		file:      "legacy.pgp-public.bin",
		jid:       "abb3c6059bbe9f3772348ef38dbac1ded59695f7@kontalk.test",
		localpart: "abb3c6059bbe9f3772348ef38dbac1ded59695f7",
		fpr:       "1BD88A6363FAEF3E1A0455FEE42A70C77EB9384C",
		created:   1795303929,
	},
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// serverKeys are generated once per test binary: RSA key generation takes
// a good part of a second on a shared machine. 2048 bits keeps it short;
// TestServerKeyRoundTrip covers the 3072-bit default.
var serverKeys = sync.OnceValues(func() ([]*keyring.ServerKey, error) {
	var keys []*keyring.ServerKey
	for _, name := range []string{"Server A", "Server B"} {
		k, err := keyring.GenerateServerKey(name, "server@kontalk.test", keyring.ServerKeyOptions{
			RSABits: 2048,
			Created: testNow.Add(-30 * 24 * time.Hour),
		})
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
})

func serverKey(tb testing.TB, i int) *keyring.ServerKey {
	tb.Helper()
	keys, err := serverKeys()
	if err != nil {
		tb.Fatal(err)
	}
	return keys[i]
}

func trust(tb testing.TB, keys ...*keyring.ServerPublicKey) *keyring.Trust {
	tb.Helper()
	tr, err := keyring.NewTrust(keys...)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

func certify(tb testing.TB, k *keyring.ServerKey, ring []byte, at time.Time) []byte {
	tb.Helper()
	signed, err := k.Certify(ring, domain, at)
	if err != nil {
		tb.Fatalf("Certify: %v", err)
	}
	return signed
}

func newUserKey(tb testing.TB, localpart, dom string, opts keytest.Options) *keytest.UserKey {
	tb.Helper()
	k, err := keytest.NewUserKey("Test User", localpart, dom, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func armorRing(tb testing.TB, blockType string, bin []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(bin); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func readSecretFixture(tb testing.TB, name string) *openpgp.Entity {
	tb.Helper()
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(readFile(tb, name)))
	if err != nil {
		tb.Fatal(err)
	}
	return el[0]
}

func wantReason(tb testing.TB, err error, want keyring.Reason) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %q", want)
	}
	if !errors.Is(err, want) {
		tb.Fatalf("got %v, want reason %q", err, want)
	}
	var ke *keyring.Error
	if !errors.As(err, &ke) || ke.Reason != want {
		tb.Fatalf("got %#v, want *keyring.Error with reason %q", err, want)
	}
}
