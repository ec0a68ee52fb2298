package test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/s2s/s2stest"
	"github.com/kontalk/xmppd/s2s/server"
)

// Hostile peers each get the error that names their fault, and nothing
// they send reaches the network, while a well-behaved federated server
// keeps delivering messages over its own stream.
func TestHostilePeers(t *testing.T) {
	rds := testkit.StartRedis(t, testkit.RedisOptions{})
	dir := s2stest.NewDirectory(t, rds.URL())
	keyH, keyP := serverKey(t, hostH), serverKey(t, hostP)
	addr := testkit.FreeAddr(t)
	dir.AddHost(hostH, keyH.Fingerprint(), addr)
	dir.AddHost(hostP, keyP.Fingerprint(), testkit.FreeAddr(t)) // listed, not running

	ca := s2stest.NewCA(t, "Hostile test CA")
	// The authoritative server of evil-db.test vouches for any key.
	evilDB := startFakeServer(t, "evil-db.test", &ca.Issue("evil-db.test").TLS, func(el string) string {
		switch {
		case strings.HasPrefix(el, "<db:verify") && !strings.Contains(el, "type="):
			return fmt.Sprintf("<db:verify from='%s' to='%s' id='%s' type='valid'/>", attr(el, "to"), attr(el, "from"), attr(el, "id"))
		case strings.HasPrefix(el, "<db:result") && !strings.Contains(el, "type="):
			return fmt.Sprintf("<db:result from='%s' to='%s' type='valid'/>", attr(el, "to"), attr(el, "from"))
		}
		return ""
	})
	// evil-out.test answers our dialback request with a result for a
	// pair we never asked about.
	evilOut := startFakeServer(t, "evil-out.test", &ca.Issue("evil-out.test").TLS, func(el string) string {
		if strings.HasPrefix(el, "<db:result") {
			return "<db:result from='victim.test' to='" + network + "' type='valid'/>"
		}
		return ""
	})
	h := s2stest.StartHost(t, bins, s2stest.HostConfig{
		Network: network, Host: hostH, Listen: addr, ServerKey: keyH, RedisURL: rds.URL(),
		Cert: ca.Issue(network), CAFile: ca.File,
		Peers: map[string]string{"evil-db.test": evilDB.addr(), "evil-out.test": evilOut.addr()},
		Args:  []string{"-handshake-timeout", "2s"},
	})
	resolver := h.Component("resolver-1."+hostH, component.Bind{Name: network, Multi: true})

	// The good peer: TLS with a certificate of the CA, SASL EXTERNAL.
	good := dialPeer(t, h.S2SAddr, "good.test", network)
	goodCert := ca.Issue("good.test")
	good.startTLS(&goodCert.TLS)
	good.external()
	var sent int
	var flowErr error
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			good.conn.SetWriteDeadline(time.Now().Add(s2stest.Timeout))
			if _, err := fmt.Fprintf(good.conn, "<message from='ann@good.test/x' to='bob@%s' id='good%d' type='chat'><body>%d</body></message>", network, sent, sent); err != nil {
				flowErr = err
				return
			}
			sent++
			time.Sleep(5 * time.Millisecond) // pacing the sender, not waiting for a result
		}
	}()

	spoofs := []string{"spoof-ext", "spoof-db"}
	t.Run("spoofed from after SASL EXTERNAL", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "evil.test", network)
		cert := ca.Issue("evil.test")
		p.startTLS(&cert.TLS)
		p.external()
		p.send("<message from='alice@" + network + "/phone' to='bob@" + network + "' id='spoof-ext' type='chat'><body>I am Alice</body></message>")
		p.expectStreamError("invalid-from")
	})

	t.Run("spoofed from after dialback", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "evil-db.test", network)
		p.startTLS(nil)
		if strings.Contains(p.features, "EXTERNAL") {
			t.Fatalf("EXTERNAL offered without a certificate: %s", p.features)
		}
		p.send("<db:result from='evil-db.test' to='" + network + "'>0123456789abcdef</db:result>")
		p.expect("<db:result", "type='valid'", "to='evil-db.test'")
		p.send("<message from='mallory@evil-db.test' to='bob@" + network + "' id='db-ok' type='chat'><body>legit</body></message>")
		resolver.Expect(t, "id='db-ok'")
		p.send("<message from='alice@" + network + "' to='bob@" + network + "' id='spoof-db' type='chat'><body>I am Alice</body></message>")
		p.expectStreamError("invalid-from")
	})

	t.Run("dialback for a name of this network", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "evil.test", network)
		p.startTLS(nil)
		for _, claimed := range []string{network, hostP, "c2s-1." + hostH} {
			p.send("<db:result from='" + claimed + "' to='" + network + "'>0123456789abcdef</db:result>")
			p.expect("<db:result", "to='"+claimed+"'", "type='error'", "not-authorized")
		}
		// Nobody asked evil-db's authoritative server about those.
		if evilDB.got("<db:verify", network+"'>") {
			t.Error("a dialback key for the network's own name was sent out for verification")
		}
	})

	t.Run("stream from a name of this network", func(t *testing.T) {
		nc, err := net.Dial("tcp", h.S2SAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		fmt.Fprintf(nc, streamHeader, hostP, network)
		got := readAll(t, nc)
		if !strings.Contains(got, "<invalid-from ") {
			t.Errorf("got %s", got)
		}
	})

	t.Run("unsolicited dialback result", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "evil.test", network)
		p.startTLS(nil)
		p.send("<db:result from='evil.test' to='" + network + "' type='valid'/>")
		p.expectStreamError("not-authorized")
	})

	t.Run("unsolicited dialback verification answer", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "evil.test", network)
		p.startTLS(nil)
		p.send("<db:verify from='evil.test' to='" + network + "' id='whatever' type='valid'/>")
		p.expectStreamError("not-authorized")
	})

	t.Run("unsolicited dialback result on an outbound link", func(t *testing.T) {
		resolver.Send(t, "<message from='alice@"+network+"/phone' to='eve@evil-out.test' id='to-evil' type='chat'><body>x</body></message>")
		resolver.Expect(t, "id='to-evil'", "type='error'", "remote-server-not-found", "unsolicited")
		testkit.Eventually(t, s2stest.Timeout, "evil-out.test told why", func() bool {
			return evilOut.got("<stream:error><not-authorized")
		})
		for _, o := range h.Connz(t).Out {
			if o.Remote == "victim.test" || o.Remote == "evil-out.test" && o.State == "established" {
				t.Errorf("link after an unsolicited result: %+v", o)
			}
		}
	})

	t.Run("oversized stanza", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "big.test", network)
		cert := ca.Issue("big.test")
		p.startTLS(&cert.TLS)
		p.external()
		p.send("<message from='x@big.test' to='bob@" + network + "' id='big'><body>" + strings.Repeat("A", 600<<10) + "</body></message>")
		p.expectStreamError("policy-violation")
	})

	t.Run("oversized element before authentication", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "big.test", network)
		p.startTLS(nil)
		p.send("<db:result from='big.test' to='" + network + "'>" + strings.Repeat("a", 9<<10) + "</db:result>")
		p.expectStreamError("policy-violation")
	})

	t.Run("stanza before authentication", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "evil.test", network)
		p.startTLS(nil)
		p.send("<message from='x@evil.test' to='bob@" + network + "' id='early'/>")
		p.expectStreamError("not-authorized")
	})

	t.Run("plaintext when TLS is required", func(t *testing.T) {
		p := dialPeer(t, h.S2SAddr, "evil.test", network)
		if strings.Contains(p.features, "dialback") || !strings.Contains(p.features, "<required/>") {
			t.Errorf("features before TLS: %s", p.features)
		}
		p.send("<db:result from='evil.test' to='" + network + "'>0123456789abcdef</db:result>")
		p.expectStreamError("policy-violation")
	})

	t.Run("a peer that never finishes TLS", func(t *testing.T) {
		for _, partial := range []string{"", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"} {
			p := dialPeer(t, h.S2SAddr, "slow.test", network)
			p.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
			if top := p.next(); !top.Is("proceed") {
				t.Fatalf("expected proceed, got %s", top.Raw)
			}
			p.send(partial)
			start := time.Now()
			p.raw.SetReadDeadline(time.Now().Add(s2stest.Timeout))
			if _, err := io.Copy(io.Discard, p.raw); err != nil && time.Since(start) >= s2stest.Timeout {
				t.Fatalf("connection not closed: %v", err)
			}
			t.Logf("closed after %v", time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("federated server addressing the host", func(t *testing.T) {
		nc, err := net.Dial("tcp", h.S2SAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		fmt.Fprintf(nc, streamHeader, "evil.test", hostH)
		if got := readAll(t, nc); !strings.Contains(got, "<host-unknown ") {
			t.Errorf("got %s", got)
		}
	})

	t.Run("network host with the wrong key", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		id, err := server.NewHostIdentity(other, time.Now(), hostP, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := dialPeer(t, h.S2SAddr, hostP, hostH)
		p.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		if top := p.next(); !top.Is("proceed") {
			t.Fatalf("expected proceed, got %s", top.Raw)
		}
		p.startTLSAfterProceed(&id.Cert)
		p.send(fmt.Sprintf(streamHeader, hostP, hostH))
		p.expectStreamError("not-authorized")
	})

	close(done)
	wg.Wait()
	if flowErr != nil {
		t.Fatalf("the good peer's stream broke: %v", flowErr)
	}
	resolver.WaitCount(t, "id='good", sent)
	for _, id := range spoofs {
		if n := resolver.Count("id='" + id + "'"); n != 0 {
			t.Errorf("spoofed stanza %s reached the network", id)
		}
	}
	t.Logf("the good peer delivered %d messages meanwhile", sent)

	// SIGTERM: streams are closed with system-shutdown and s2s exits 0.
	if err := h.S2S.Stop(s2stest.Timeout); err != nil {
		t.Errorf("s2s exited with %v", err)
	}
	good.expectStreamError("system-shutdown")
}

// readAll reads what the server sends until it closes the connection.
func readAll(t *testing.T, nc net.Conn) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(s2stest.Timeout))
	b, err := io.ReadAll(nc)
	if err != nil && len(b) == 0 {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}
