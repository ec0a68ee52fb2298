package keyring_test

import (
	"testing"

	"github.com/kontalk/xmppd/pkg/keyring"
)

func TestKeyFileRotation(t *testing.T) {
	oldKey, newKey := serverKey(t, 0), serverKey(t, 1)
	priv, err := oldKey.ArmoredPrivate()
	if err != nil {
		t.Fatal(err)
	}
	f, err := keyring.ParseKeyFile(priv)
	if err != nil || f.Signer == nil || len(f.Keys) != 1 || f.Signer.Fingerprint() != oldKey.Fingerprint() {
		t.Fatalf("one private key: %+v %v", f, err)
	}
	rotated, err := f.Rotate(newKey)
	if err != nil {
		t.Fatal(err)
	}
	g, err := keyring.ParseKeyFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	if g.Signer == nil || g.Signer.Fingerprint() != newKey.Fingerprint() || len(g.Keys) != 2 || g.Keys[1].Fingerprint() != oldKey.Fingerprint() {
		t.Fatalf("rotated file: %+v", g)
	}
	tr, err := g.Trust()
	if err != nil || len(tr.Fingerprints()) != 2 {
		t.Fatalf("trust %v %v", tr, err)
	}
	// Rotating to the current key again does not list it twice.
	if again, err := g.Rotate(newKey); err != nil {
		t.Fatal(err)
	} else if h, err := keyring.ParseKeyFile(again); err != nil || len(h.Keys) != 2 {
		t.Fatalf("rotate to the same key: %v %v", h, err)
	}
	// Public keys only: no signer.
	pub, _ := oldKey.ArmoredPublic()
	if p, err := keyring.ParseKeyFile(pub); err != nil || p.Signer != nil || len(p.Keys) != 1 {
		t.Fatalf("public file %+v %v", p, err)
	}
	if e, err := keyring.ParseKeyFile(nil); err != nil || len(e.Keys) != 0 {
		t.Fatalf("empty file %+v %v", e, err)
	}
	if _, err := keyring.ParseKeyFile([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nxx")); err == nil {
		t.Fatal("broken block accepted")
	}
}
