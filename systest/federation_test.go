package systest

import (
	"net"
	"strconv"
	"testing"

	"github.com/kontalk/xmppd/s2s/s2stest"
)

// A Kontalk user, logged in through the real c2s, and a user of a real
// Prosody exchange messages and presence subscriptions in both
// directions, over TLS with certificates of a test CA: every stanza
// crosses c2s, sm, router, resolver and s2s on our side.
func TestFederationWithProsody(t *testing.T) {
	const domain = "prosody.test"
	ourAddr := s2stest.FreeLoopback(t)
	ourIP, _, _ := net.SplitHostPort(ourAddr)
	dns := s2stest.StartDNS(t)
	ca := s2stest.NewCA(t, "Federation test CA")
	remote := s2stest.StartProsody(t, s2stest.PeerConfig{Domain: domain, Hosts: map[string]string{network: ourIP},
		Users: map[string]string{"pat": "pat-secret"}, Cert: ca.Issue(domain), CAFile: ca.File, DNS: dns})
	remoteIP, remotePort, _ := net.SplitHostPort(remote.S2SAddr)
	port, _ := strconv.Atoi(remotePort)
	dns.SetSRV("_xmpp-server._tcp."+domain, s2stest.SRV{Target: "xmpp." + domain, Port: uint16(port)})
	dns.SetA("xmpp."+domain, remoteIP)
	cert := ca.Issue(network)
	h := startHost(t, hostOptions{s2s: true, s2sAddr: ourAddr,
		s2sArgs: []string{"-tls-cert", cert.CertFile, "-tls-key", cert.KeyFile, "-ca-file", ca.File, "-dns", dns.Addr()}})

	alice := newUser(t)
	a := h.login(t, alice, "phone")
	send(t, a, "<presence/>")
	const patJID = "pat@" + domain
	pat := s2stest.StartUser(t, patJID, "pat-secret", remote.C2SAddr)

	// Messages both ways, with a receipt back to the sender's full JID.
	send(t, a, `<message to='`+patJID+`' id='k2p' type='chat'><body>hello pat</body><request xmlns='urn:xmpp:receipts'/></message>`)
	got := pat.Expect(t, `from="`+alice.JID+`/phone"`, `id="k2p"`, "<body>hello pat</body>")
	t.Logf("pat received %s", got)
	pat.Send(t, `<message to='`+alice.JID+`/phone' id='r1' type='chat'><received xmlns='urn:xmpp:receipts' id='k2p'/></message>`)
	// Prosody orders attributes as it likes: the receipt is read, not
	// matched as text.
	receipt := expect(t, a, "id='r1'", "from='"+patJID+"/")
	if r := receipt.Child("received", "urn:xmpp:receipts"); r == nil || r.Attr("id") != "k2p" {
		t.Errorf("receipt %s", receipt)
	}
	pat.Send(t, `<message to='`+alice.JID+`' id='p2k' type='chat'><body>hello alice</body></message>`)
	expect(t, a, "id='p2k'", "hello alice", "from='"+patJID+"/")

	// Alice subscribes to Pat: Pat sees the request, approves, and Alice
	// gets the approval and then Pat's presence.
	send(t, a, `<presence to='`+patJID+`' type='subscribe'/>`)
	pat.Expect(t, `type="subscribe"`, `from="`+alice.JID+`"`)
	pat.Send(t, `<presence to='`+alice.JID+`' type='subscribed'/>`)
	expect(t, a, "<presence", "type='subscribed'", "from='"+patJID+"'")
	expect(t, a, "<presence", "from='"+patJID+"/", "on the other server")

	// Pat subscribes to Alice: the request reaches her client, her
	// approval reaches Pat, and so does her presence.
	pat.Send(t, `<presence to='`+alice.JID+`' type='subscribe'/>`)
	expect(t, a, "<presence", "type='subscribe'", "from='"+patJID+"'")
	send(t, a, `<presence to='`+patJID+`' type='subscribed'/>`)
	pat.Expect(t, `type="subscribed"`, `from="`+alice.JID+`"`)
	pat.Expect(t, "<presence", `from="`+alice.JID+`/phone"`)
}
