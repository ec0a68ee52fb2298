package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/phone"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ctl runs a command line and returns its output.
func ctl(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, &out)
	return out.String(), err
}

func mustCtl(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := ctl(t, env, args...)
	if err != nil {
		t.Fatalf("kontalkctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestServerKey(t *testing.T) {
	dir := t.TempDir()
	key, pub, next, nextPub := filepath.Join(dir, "k.asc"), filepath.Join(dir, "k.pub"), filepath.Join(dir, "k2.asc"), filepath.Join(dir, "k2.pub")
	out := mustCtl(t, nil, "serverkey", "generate", "-out", key, "-public", pub, "-network", "kontalk.test", "-bits", "2048")
	first := strings.Fields(out)[0]
	if _, err := ctl(t, nil, "serverkey", "generate", "-out", key, "-network", "kontalk.test", "-bits", "2048"); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	if out := mustCtl(t, nil, "serverkey", "show", "-key", key); !strings.Contains(out, first+"\tcurrent, private (certifies)") {
		t.Fatalf("show %s", out)
	}
	if out := mustCtl(t, map[string]string{"KONTALK_KEY": pub}, "serverkey", "show"); !strings.Contains(out, first+"\tcurrent, public only") {
		t.Fatalf("show public %s", out)
	}
	out = mustCtl(t, nil, "serverkey", "rotate", "-in", key, "-out", next, "-public", nextPub, "-network", "kontalk.test", "-bits", "2048")
	second := strings.Fields(out)[0]
	out = mustCtl(t, nil, "serverkey", "show", "-key", next)
	if !strings.Contains(out, second+"\tcurrent, private") || !strings.Contains(out, first+"\tolder, trusted") {
		t.Fatalf("rotated %s", out)
	}
	data, _ := os.ReadFile(nextPub)
	f, err := keyring.ParseKeyFile(data)
	if err != nil || f.Signer != nil || len(f.Keys) != 2 {
		t.Fatalf("public key file %+v %v", f, err)
	}
}

func TestUsersAndHosts(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.asc")
	mustCtl(t, nil, "serverkey", "generate", "-out", key, "-network", "kontalk.test", "-bits", "2048")
	r := testkit.StartRedis(t, testkit.RedisOptions{})
	env := map[string]string{"KONTALK_REDIS": r.URL(), "KONTALK_NETWORK": "kontalk.test", "KONTALK_HOST": "node1.kontalk.test", "KONTALK_SERVER_KEY": key}
	out := mustCtl(t, env, "user", "create", "-phone", "+39 347 111 2222", "-out", dir, "-name", "Ops Test")
	u := phone.Localpart("+393471112222")
	if !strings.Contains(out, "jid\t"+u+"@kontalk.test") {
		t.Fatalf("create %s", out)
	}
	for _, ext := range []string{".crt", ".key", ".pgp.asc"} {
		if _, err := os.Stat(filepath.Join(dir, u+ext)); err != nil {
			t.Errorf("file %s: %v", ext, err)
		}
	}
	if _, err := ctl(t, env, "user", "create", "-phone", "+393471112222", "-out", dir); err == nil {
		t.Fatal("a second account for the number")
	}
	out = mustCtl(t, env, "user", "show", "-phone", "+393471112222")
	if !strings.Contains(out, "home\tnode1.kontalk.test") || !strings.Contains(out, "user\t"+u) {
		t.Fatalf("show %s", out)
	}
	if _, err := ctl(t, env, "user", "show", "-user", strings.Repeat("0", 40)); err == nil {
		t.Fatal("shown a user that does not exist")
	}

	st, err := store.Open(store.Options{URL: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	st.Hosts.Register(ctx, "node1.kontalk.test", store.Host{Fingerprint: "ABC", Enabled: true})
	st.Hosts.Register(ctx, "node2.kontalk.test", store.Host{Enabled: false})
	st.Hosts.Renew(ctx, "node1.kontalk.test", "sm-1", time.Minute)
	out = mustCtl(t, env, "hosts")
	if !strings.Contains(out, "node1.kontalk.test\tABC\tenabled\tup") || !strings.Contains(out, "node2.kontalk.test\t-\tdisabled\tdown") {
		t.Fatalf("hosts %s", out)
	}
	if _, err := ctl(t, env, "nonsense"); err == nil {
		t.Fatal("unknown command accepted")
	}
}
