// Package test runs a single-host Kontalk network as real processes
// (redis-server, router, resolver, two sm instances) and talks to it as
// c2s does, through a stand-in c2s built on pkg/component that speaks
// the session protocol (docs/session-protocol.md). Scenarios see clients
// only through the Client interface, so the same scenarios can run with
// the real c2s and XMPP clients.
package test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/keyring/keytest"
	"github.com/kontalk/xmppd/pkg/testkit"
)

const (
	secret  = "s3cret"
	network = "kontalk.test"
	host    = "node1.kontalk.test"
	// timeout bounds each wait of a scenario.
	timeout = 20 * time.Second
)

// Binaries and keys, built once per test binary.
var (
	routerBin, resolverBin, smBin string
	serverKeyFile                 string
	serverKey                     *keyring.ServerKey
	// keyOld and keyNew are two keys of the user authUser, the second
	// newer; keyOther is a key of the user newUser.
	keyOld, keyNew, keyOther []byte
)

// Localparts of the users the auth test uses: SHA-1 of phone numbers, as
// keys need.
var (
	authUser = phoneHash("+15550000001")
	newUser  = phoneHash("+15550000002")
)

func phoneHash(phone string) string {
	h := sha1.Sum([]byte(phone))
	return hex.EncodeToString(h[:])
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sm-test")
	if err != nil {
		log.Fatal(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := setup(dir); err != nil {
			log.Print(err)
			return 1
		}
		code := m.Run()
		if code == 0 {
			// Stand-ins and process readers all end with their tests.
			if err := goleak.Find(); err != nil {
				log.Print(err)
				return 1
			}
		}
		return code
	}()
	os.Exit(code)
}

func setup(dir string) error {
	ctx := context.Background()
	var err error
	for _, b := range []struct {
		dir, name string
		bin       *string
	}{{"../../router", "router", &routerBin}, {"../../resolver", "resolver", &resolverBin}, {"..", "sm", &smBin}} {
		if *b.bin, err = testkit.Build(ctx, b.dir, dir, b.name); err != nil {
			return err
		}
	}
	// 2048 bits: RSA key generation is slow on a shared machine.
	serverKey, err = keyring.GenerateServerKey("Test network", "server@"+network, keyring.ServerKeyOptions{RSABits: 2048, Created: time.Now().Add(-time.Hour)})
	if err != nil {
		return err
	}
	armored, err := serverKey.ArmoredPublic()
	if err != nil {
		return err
	}
	serverKeyFile = filepath.Join(dir, "server-key.asc")
	if err := os.WriteFile(serverKeyFile, armored, 0o600); err != nil {
		return err
	}
	certified := func(local string, created time.Time) ([]byte, error) {
		k, err := keytest.NewUserKey("Test User", local, network, keytest.Options{Created: created})
		if err != nil {
			return nil, err
		}
		return serverKey.Certify(k.PublicRing, network, time.Now())
	}
	if keyOld, err = certified(authUser, time.Now().Add(-48*time.Hour)); err != nil {
		return err
	}
	if keyNew, err = certified(authUser, time.Now().Add(-time.Hour)); err != nil {
		return err
	}
	if keyOther, err = certified(newUser, time.Now().Add(-time.Hour)); err != nil {
		return fmt.Errorf("user key: %w", err)
	}
	return nil
}
