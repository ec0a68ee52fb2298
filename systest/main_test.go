// Package systest runs whole Kontalk networks as real processes (Redis,
// router, resolver, sm, c2s, s2s, upload) and drives them with real XMPP
// clients over TLS, as Kontalk clients log in: bridge certificates and
// SASL EXTERNAL.
package systest

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/testkit"
)

var bins = map[string]string{}

// serverKey certifies the test users' keys; serverKeyFile and
// serverPubFile hold it armored.
var (
	serverKey                    *keyring.ServerKey
	serverKeyFile, serverPubFile string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "systest")
	if err != nil {
		log.Fatal(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		ctx := context.Background()
		for _, name := range []string{"router", "resolver", "sm", "c2s", "s2s", "upload"} {
			if bins[name], err = testkit.Build(ctx, "../"+name, dir, name); err != nil {
				log.Print(err)
				return 1
			}
		}
		// 2048 bits: RSA key generation is slow on a shared machine.
		serverKey, err = keyring.GenerateServerKey("Test network", "server@"+network, keyring.ServerKeyOptions{RSABits: 2048, Created: time.Now().Add(-time.Hour)})
		if err != nil {
			log.Print(err)
			return 1
		}
		priv, err := serverKey.ArmoredPrivate()
		if err == nil {
			serverKeyFile = filepath.Join(dir, "server-key.asc")
			err = os.WriteFile(serverKeyFile, priv, 0o600)
		}
		if err == nil {
			var pub []byte
			if pub, err = serverKey.ArmoredPublic(); err == nil {
				serverPubFile = filepath.Join(dir, "server-key.pub.asc")
				err = os.WriteFile(serverPubFile, pub, 0o644)
			}
		}
		if err != nil {
			log.Print(err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}
