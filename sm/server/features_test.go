package server

import (
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/verify"
)

// Registration needs the current key's private part; a key file giving
// it makes the signer, older keys after it stay trusted.
func TestRegistrationKeys(t *testing.T) {
	cur, err := keyring.GenerateServerKey("T", "server@example", keyring.ServerKeyOptions{RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	old, err := keyring.GenerateServerKey("Old", "server@example", keyring.ServerKeyOptions{RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := cur.ArmoredPublic()
	o := validOptions()
	o.ServerKeys = pub
	o.Register.Provider = verify.Dummy{Code: "1"}
	if _, err := New(o, zap.NewNop(), nil); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("registration with a public key only: %v", err)
	}
	priv, _ := cur.ArmoredPrivate()
	oldPub, _ := old.ArmoredPublic()
	o.ServerKeys = append(priv, oldPub...)
	s, err := New(o, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.features.register.Enabled() || s.keys.signer.Fingerprint() != cur.Fingerprint() || len(s.keys.trust.Fingerprints()) != 2 {
		t.Fatalf("keys %+v", s.keys)
	}
}
