package keytest_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kontalk/xmppd/pkg/keyring/keytest"
)

// layout describes a ring's packets: kind, algorithm, signature type, key
// flags and whether a signature embeds a back-signature.
func layout(t *testing.T, ring []byte) []string {
	t.Helper()
	var out []string
	r := packet.NewReader(bytes.NewReader(ring))
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch p := p.(type) {
		case *packet.PublicKey:
			curve, _ := p.Curve()
			out = append(out, fmt.Sprintf("key sub=%v algo=%d curve=%s", p.IsSubkey, p.PubKeyAlgo, curve))
		case *packet.UserId:
			out = append(out, "uid")
		case *packet.Signature:
			var flags byte
			for _, f := range []struct {
				set bool
				bit byte
			}{{p.FlagCertify, 1}, {p.FlagSign, 2}, {p.FlagEncryptCommunications, 4}, {p.FlagEncryptStorage, 8}, {p.FlagAuthenticate, 0x20}} {
				if f.set {
					flags |= f.bit
				}
			}
			out = append(out, fmt.Sprintf("sig type=%#x algo=%d flags=%#x backsig=%v", p.SigType, p.PubKeyAlgo, flags, p.EmbeddedSignature != nil))
		default:
			out = append(out, fmt.Sprintf("%T", p))
		}
	}
}

// TestLayoutMatchesFixtures compares generated keys with the rings the
// Android client made (testdata of the keyring package).
func TestLayoutMatchesFixtures(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		legacy  bool
	}{{"android.pgp-public.bin", false}, {"legacy.pgp-public.bin", true}} {
		fixture, err := os.ReadFile(filepath.Join("..", "testdata", tc.fixture))
		if err != nil {
			t.Fatal(err)
		}
		k, err := keytest.NewUserKey("Test", "d888e3fba7e8b0b046f7b7a83f4d520a554092a1", "kontalk.test", keytest.Options{Legacy: tc.legacy})
		if err != nil {
			t.Fatal(err)
		}
		want, got := layout(t, fixture), layout(t, k.PublicRing)
		if !slices.Equal(got, want) {
			t.Errorf("%s layout\n got %q\nwant %q", tc.fixture, got, want)
		}
		if !k.Signer.PublicKey.Equal(k.Entity.PrimaryKey.PublicKey) {
			t.Errorf("%s: Signer is not the master key", tc.fixture)
		}
	}
}

func TestOptions(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k, err := keytest.NewUserKey("Test", "d888e3fba7e8b0b046f7b7a83f4d520a554092a1", "kontalk.test", keytest.Options{
		Created: created, Lifetime: 24 * time.Hour, Revoked: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Entity.PrimaryKey.CreationTime.Equal(created) {
		t.Errorf("created %v, want %v", k.Entity.PrimaryKey.CreationTime, created)
	}
	if _, err := k.Entity.VerifyPrimaryKey(created.Add(time.Hour), nil); err == nil {
		t.Error("revoked key verifies")
	}
	for _, ident := range k.Entity.Identities {
		if lt := ident.SelfCertifications[0].Packet.KeyLifetimeSecs; lt == nil || *lt != 24*3600 {
			t.Errorf("key lifetime %v, want one day", lt)
		}
	}
	if len(k.Entity.Revocations) != 1 || k.Entity.Revocations[0].Packet.RevocationReason != nil {
		t.Error("want one revocation without a reason subpacket")
	}
}
