// Package test runs s2s as a real process beside a real router: two
// hosts of one network (with a real Redis directory), federation with a
// real Prosody, and hostile peers speaking raw XMPP.
package test

import (
	"context"
	"log"
	"os"
	"testing"

	"github.com/kontalk/xmppd/s2s/s2stest"
)

const network = "kontalk.test"

var bins s2stest.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s2s-test")
	if err != nil {
		log.Fatal(err)
	}
	bins, err = s2stest.Build(context.Background(), "../..", dir)
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
