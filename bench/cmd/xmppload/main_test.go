package main

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kontalk/xmppd/bench/load"
	"github.com/kontalk/xmppd/pkg/testkit"
)

// binDir holds the binaries devrun starts, built for this test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xmppload")
	if err != nil {
		log.Fatal(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		// devrun skips what is not built: s2s and upload are not needed.
		for _, pkg := range []string{"router", "resolver", "sm", "c2s", "tools/devrun"} {
			if _, err := testkit.Build(context.Background(), "../../../"+pkg, dir, filepath.Base(pkg)); err != nil {
				log.Print(err)
				return 1
			}
		}
		binDir = dir
		return m.Run()
	}()
	os.Exit(code)
}

// TestSmoke runs a tiny load against our own network started by devrun:
// every user logs in, every message the server acknowledges arrives, and
// receipts come back.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sc := load.Scenario{Name: "smoke", Users: 10, Concurrency: 10, Interval: 500 * time.Millisecond,
		Duration: 2 * time.Second, Drain: 20 * time.Second}
	res, err := run(ctx, "kontalk", binDir, 12000, false, sc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Logins != 10 || res.LoginFailures != 0 {
		t.Fatalf("logins %d, failures %d (%s)", res.Logins, res.LoginFailures, res.LastError)
	}
	if res.Sent == 0 || res.Acknowledged != res.Sent || res.Delivered != res.Sent || res.Lost != 0 || res.Errors != 0 {
		t.Errorf("sent %d, acknowledged %d, delivered %d, lost %d, errors %d (%s)",
			res.Sent, res.Acknowledged, res.Delivered, res.Lost, res.Errors, res.LastError)
	}
	if res.Receipts == 0 {
		t.Error("no receipt came back")
	}
	if res.RSSBytes <= 0 || res.Delivery.Count != res.Delivered {
		t.Errorf("rss %d, latencies %d", res.RSSBytes, res.Delivery.Count)
	}
}
