// Package test runs the upload service as a real process behind a real
// router, asks for slots as a network component would for its users, and
// uploads and downloads over HTTP.
package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
)

const (
	network = "kontalk.test"
	media   = "media.kontalk.test"
	secret  = "s3cret"
	timeout = 10 * time.Second
)

var routerBin, uploadBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "upload-test")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if routerBin, err = testkit.Build(ctx, "../../router", dir, "router"); err == nil {
		uploadBin, err = testkit.Build(ctx, "..", dir, "upload")
	}
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// service is a router and an upload service, and a trusted component
// (standing in for sm) through which users ask for slots.
type service struct {
	httpAddr string
	dir      string
	sm       *component.Client
	replies  chan *xml.Element
}

func start(t *testing.T, extra ...string) *service {
	t.Helper()
	routerAddr, routerAdmin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	testkit.StartProcess(t, "router", routerBin, []string{"-listen", routerAddr, "-admin", routerAdmin, "-log-format", "console"},
		[]string{"KONTALK_SECRET=" + secret})
	testkit.WaitReady(t, "http://"+routerAdmin+"/readyz", timeout)
	s := &service{httpAddr: testkit.FreeAddr(t), dir: t.TempDir(), replies: make(chan *xml.Element, 16)}
	admin := testkit.FreeAddr(t)
	args := append([]string{"-name", media, "-network", network, "-router", routerAddr, "-http", s.httpAddr,
		"-dir", s.dir, "-admin", admin, "-log-format", "console", "-max-size", "1MiB"}, extra...)
	testkit.StartProcess(t, "upload", uploadBin, args,
		[]string{"KONTALK_SECRET=" + secret, "KONTALK_SIGNING_KEY=0123456789abcdef0123456789abcdef"})
	testkit.WaitReady(t, "http://"+admin+"/readyz", timeout)

	// It binds the network domain and the default route too, standing
	// in for the resolver and s2s that would carry the answers.
	c, err := component.New(component.Config{Addr: routerAddr, Name: "sm-1.node1.kontalk.test", Secret: secret,
		Binds: []component.Bind{{Name: network}, {Name: "s2s.node1.kontalk.test", Default: true}},
		OnStanza: func(top *xml.Top) {
			if e, err := xml.Parse(top.Raw, xml.Scope{Default: "jabber:component:accept"}); err == nil {
				s.replies <- e
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-c.Ready()
	s.sm = c
	return s
}

// iq sends an IQ to the service from a user and returns the answer.
func (s *service) iq(t *testing.T, from, payload string) *xml.Element {
	t.Helper()
	id := fmt.Sprint(time.Now().UnixNano())
	raw := fmt.Sprintf(`<iq from='%s' to='%s' type='get' id='%s'>%s</iq>`, from, media, id, payload)
	if err := s.sm.Send(context.Background(), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-s.replies:
			if e.Attr("id") == id {
				return e
			}
		case <-time.After(timeout):
			t.Fatalf("no answer to %s", raw)
		}
	}
}

func requestV02(name string, size int, ctype string) string {
	return fmt.Sprintf(`<request xmlns='urn:xmpp:http:upload'><filename>%s</filename><size>%d</size><content-type>%s</content-type></request>`, name, size, ctype)
}

func request0(name string, size int, ctype string) string {
	return fmt.Sprintf(`<request xmlns='urn:xmpp:http:upload:0' filename='%s' size='%d' content-type='%s'/>`, name, size, ctype)
}

// slotURLs reads put and get URLs from a slot in either namespace.
func slotURLs(t *testing.T, reply *xml.Element) (put, get string) {
	t.Helper()
	if reply.Attr("type") != "result" {
		t.Fatalf("slot request failed: %s", reply)
	}
	slot := reply.Child("slot", "")
	if slot == nil {
		t.Fatalf("no slot in %s", reply)
	}
	p, g := slot.Child("put", ""), slot.Child("get", "")
	if slot.Space == "urn:xmpp:http:upload:0" {
		return p.Attr("url"), g.Attr("url")
	}
	return p.Text(), g.Text()
}

func httpDo(t *testing.T, method, u, ctype string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const alice = "d888e3fba7e8b0b046f7b7a83f4d520a554092a1@kontalk.test/android"

// A user asks for a slot (both namespaces), uploads, and anyone with the
// URL downloads the same bytes.
func TestUploadAndDownload(t *testing.T) {
	s := start(t)
	info := s.iq(t, alice, `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	for _, want := range []string{"urn:xmpp:http:upload", "urn:xmpp:http:upload:0", "max-file-size", "1048576"} {
		if !strings.Contains(info.String(), want) {
			t.Errorf("disco#info lacks %s: %s", want, info)
		}
	}
	for _, req := range []string{requestV02("photo 1.jpg", 2048, "image/jpeg"), request0("photo 1.jpg", 2048, "image/jpeg")} {
		put, get := slotURLs(t, s.iq(t, alice, req))
		content := bytes.Repeat([]byte{0xff, 0xd8, 'x'}, 2048/3+1)[:2048]
		resp, body := httpDo(t, http.MethodPut, put, "image/jpeg", content)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT: %s %s", resp.Status, body)
		}
		resp, body = httpDo(t, http.MethodGet, get, "", nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("GET: %s, %d bytes, %s", resp.Status, len(body), resp.Header.Get("Content-Type"))
		}
		// The same slot cannot be used twice.
		if resp, _ := httpDo(t, http.MethodPut, put, "image/jpeg", content); resp.StatusCode != http.StatusConflict {
			t.Errorf("second PUT: %s", resp.Status)
		}
	}
}

// Each misuse is refused, with the reason.
func TestRefusals(t *testing.T) {
	s := start(t, "-slot-ttl", "1s")
	put, get := slotURLs(t, s.iq(t, alice, requestV02("a.png", 10, "image/png")))

	for _, tc := range []struct {
		name, put, ctype string
		body             []byte
		status           int
	}{
		{"wrong signature", strings.Replace(put, "sig=", "sig=AA", 1), "image/png", make([]byte, 10), http.StatusForbidden},
		{"another size in the URL", strings.Replace(put, "size=10", "size=11", 1), "image/png", make([]byte, 11), http.StatusForbidden},
		{"body larger than the slot", put, "image/png", make([]byte, 11), http.StatusBadRequest},
		{"wrong content type", put, "text/html", make([]byte, 10), http.StatusBadRequest},
	} {
		resp, body := httpDo(t, http.MethodPut, tc.put, tc.ctype, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s, want %d", tc.name, resp.Status, body, tc.status)
		}
	}
	if resp, _ := httpDo(t, http.MethodGet, get, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET before upload: %s", resp.Status)
	}

	// Expired slot.
	testkit.Eventually(t, 5*time.Second, "slot expires", func() bool {
		u, _ := url.Parse(put)
		exp := u.Query().Get("expires")
		return fmt.Sprint(time.Now().Unix()) > exp
	})
	if resp, body := httpDo(t, http.MethodPut, put, "image/png", make([]byte, 10)); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "expired") {
		t.Errorf("expired slot: %s %s", resp.Status, body)
	}

	for _, tc := range []struct{ name, from, req, cond string }{
		{"oversize", alice, request0("big.bin", 2<<20, "application/octet-stream"), "file-too-large"},
		{"content type", alice, requestV02("x.html", 10, "text/html"), "not-acceptable"},
		{"another domain", "romeo@montague.example/r", requestV02("a.png", 10, "image/png"), "not-allowed"},
		{"the domain itself", network, requestV02("a.png", 10, "image/png"), "not-allowed"},
		{"no size", alice, `<request xmlns='urn:xmpp:http:upload'><filename>a</filename></request>`, "bad-request"},
	} {
		reply := s.iq(t, tc.from, tc.req)
		if reply.Attr("type") != "error" || !strings.Contains(reply.String(), tc.cond) {
			t.Errorf("%s: %s", tc.name, reply)
		}
	}
	if entries, _ := os.ReadDir(s.dir); len(entries) != 0 {
		t.Errorf("refused uploads left files: %v", entries)
	}
}

// Files older than the file lifetime are deleted.
func TestExpiry(t *testing.T) {
	s := start(t, "-file-ttl", "2s")
	put, get := slotURLs(t, s.iq(t, alice, requestV02("v.ogg", 4, "audio/ogg")))
	if resp, body := httpDo(t, http.MethodPut, put, "audio/ogg", []byte("ogg!")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s %s", resp.Status, body)
	}
	testkit.Eventually(t, 10*time.Second, "file expires", func() bool {
		resp, _ := httpDo(t, http.MethodGet, get, "", nil)
		return resp.StatusCode == http.StatusNotFound
	})
	if m, _ := filepath.Glob(filepath.Join(s.dir, "*")); len(m) != 0 {
		t.Errorf("files left after expiry: %v", m)
	}
}
