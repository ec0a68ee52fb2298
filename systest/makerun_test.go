package systest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/devnet"
	"github.com/kontalk/xmppd/pkg/procstat"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xmppclient"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// makeRunOffset shifts make run's ports away from a developer's own
// network (and below the kernel's ephemeral ports).
const makeRunOffset = 11000

// openRunVar reads make run's var directory and checks that run.env
// has what docs/operations.md promises.
func openRunVar(t *testing.T, varDir string) *devnet.Network {
	t.Helper()
	n, err := devnet.Open(varDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"KONTALK_NETWORK", "KONTALK_HOST", "KONTALK_C2S_PORT", "KONTALK_ROUTER_ADDR",
		"KONTALK_COMPONENT_SECRET", "KONTALK_REDIS_URL", "KONTALK_VERIFY_CODE", "KONTALK_SERVER_FINGERPRINT"} {
		if n.Env[k] == "" {
			t.Errorf("run.env lacks %s", k)
		}
	}
	return n
}

// listeners returns the pids listening on ports.
func listeners(t *testing.T, ports []int) map[int]int {
	t.Helper()
	pids := map[int]int{}
	for _, port := range ports {
		pid, err := procstat.ListenerPID(port)
		if err != nil {
			t.Fatal(err)
		}
		if pid != 0 {
			pids[port] = pid
		}
	}
	return pids
}

// `make run` in a temporary directory brings up a working network: a
// user registers with the verification code run.env gives, users log
// in, one uploads a file through the upload service and sends its
// URL, the other downloads it; Ctrl-C then stops every process.
func TestMakeRun(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed: it is what the README tells users to run")
	}
	varDir := t.TempDir()
	run := testkit.StartProcess(t, "make-run", "make", []string{"-C", "..", "run",
		fmt.Sprintf("RUNFLAGS=-var %s -port-offset %d -listen 127.0.0.1", varDir, makeRunOffset)}, nil)
	run.WaitOutput("is running", 4*time.Minute) // the first build compiles everything
	dev := openRunVar(t, varDir)

	// Every component listens, as printed; collect their pids.
	admin := func(i int) int { return 9340 + i + makeRunOffset }
	ports := []int{6390 + makeRunOffset, 5347 + makeRunOffset, 5222 + makeRunOffset, 5223 + makeRunOffset,
		5269 + makeRunOffset, 8080 + makeRunOffset, admin(0), admin(1), admin(2), admin(3), admin(4), admin(5)}
	pids := listeners(t, ports)
	for _, p := range ports {
		if pids[p] == 0 {
			t.Errorf("nothing listens on port %d", p)
		}
	}

	// The users' keys are certified by the network's development key.
	key, roots, network, c2sAddr := dev.ServerKey, dev.Roots, dev.Domain(), dev.C2SAddr()
	if key.Fingerprint() != dev.Env["KONTALK_SERVER_FINGERPRINT"] {
		t.Errorf("run.env fingerprint %s, key %s", dev.Env["KONTALK_SERVER_FINGERPRINT"], key.Fingerprint())
	}
	// Alice registers with the code run.env gives; Bob's key was
	// certified by the same server key beforehand.
	reg := registrar{addr: c2sAddr, roots: roots, domain: network, code: dev.Env["KONTALK_VERIFY_CODE"], key: key}
	aliceID := reg.register(t, randomPhone(t))
	bob, err := clienttest.New(network, clienttest.Options{Certifier: key})
	if err != nil {
		t.Fatal(err)
	}
	login := func(id *clienttest.Identity, resource string) *xmppclient.Client {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := xmppclient.Login(ctx, xmppclient.Config{
			Addr: c2sAddr, Domain: network,
			TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{id.Certificate}},
		}, xmppclient.LoginOptions{Resource: resource, StreamManagement: true})
		if err != nil {
			t.Fatalf("login %s: %v", id.JID, err)
		}
		t.Cleanup(func() { c.Abort() })
		return c
	}
	alice := login(aliceID.Identity, "phone")
	bobc := login(bob, "laptop")
	send(t, bobc, "<presence/>")

	// Alice asks the upload service for a slot (XEP-0363 v0.2, as Kontalk
	// clients do), uploads, and sends Bob the URL.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	content := bytes.Repeat([]byte("encrypted media "), 4096)
	slot, err := alice.IQ(ctx, "get", "media."+network, fmt.Sprintf(
		`<request xmlns='urn:xmpp:http:upload'><filename>photo.jpg</filename><size>%d</size><content-type>image/jpeg</content-type></request>`, len(content)))
	if err != nil {
		t.Fatalf("slot request: %v", err)
	}
	s := slot.Child("slot", "urn:xmpp:http:upload")
	if s == nil {
		t.Fatalf("no slot: %s", slot)
	}
	put, get := s.Child("put", "").Text(), s.Child("get", "").Text()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, put, bytes.NewReader(content))
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
	send(t, alice, fmt.Sprintf(`<message to='%s' id='media1' type='chat'><body>%s</body>`+
		`<x xmlns='jabber:x:oob'><url type='image/jpeg' length='%d'>%s</url></x></message>`, bob.JID, get, len(content), get))
	got := expect(t, bobc, "id='media1'")
	url := got.Child("x", "jabber:x:oob").Child("url", "").Text()
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("download: %s, %d bytes", resp.Status, len(body))
	}

	// Ctrl-C: SIGINT to make's process group, as a terminal sends it.
	if err := syscall.Kill(-run.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.Exited():
	case <-time.After(time.Minute):
		t.Fatal("make run did not stop")
	}
	for port, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d (port %d) still running after make run stopped", pid, port)
		}
	}
	if !strings.Contains(run.Output(), "devrun: stopping") {
		t.Error("devrun did not report stopping")
	}
}
