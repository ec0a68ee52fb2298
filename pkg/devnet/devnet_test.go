package devnet_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/devnet"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := devnet.Open(dir); err == nil || !strings.Contains(err.Error(), devnet.EnvFile) {
		t.Fatalf("empty directory: %v", err)
	}
	key, err := keyring.GenerateServerKey("Dev", "server@dev.test", keyring.ServerKeyOptions{RSABits: 2048, Created: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	armored, err := key.ArmoredPrivate()
	if err != nil {
		t.Fatal(err)
	}
	certFile, _, _, err := clienttest.WriteServerCertificate(dir, "server", "dev.test")
	if err != nil {
		t.Fatal(err)
	}
	env := "KONTALK_NETWORK=dev.test\nKONTALK_C2S_PORT=15222\nKONTALK_CA_CERT=" + certFile + "\nnot a pair\n"
	for name, content := range map[string][]byte{devnet.EnvFile: []byte(env), devnet.ServerKeyFile: armored} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := devnet.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n.Domain() != "dev.test" || n.C2SAddr() != "127.0.0.1:15222" || len(n.Env) != 3 {
		t.Errorf("domain %q, c2s %q, env %v", n.Domain(), n.C2SAddr(), n.Env)
	}
	if n.ServerKey.Fingerprint() != key.Fingerprint() || n.Roots == nil {
		t.Errorf("key %s, want %s", n.ServerKey.Fingerprint(), key.Fingerprint())
	}
}
