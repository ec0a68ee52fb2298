package test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/s2s/s2stest"
)

const hostH = "h1.kontalk.test"

// A Kontalk user and a user of another server exchange messages and
// presence subscriptions both ways, through a real Prosody and a real
// ejabberd (Debian packages): once authenticated by Server Dialback
// without any certificate, once over TLS with certificates of a test CA
// and SASL EXTERNAL (XEP-0178) in both directions.
func TestFederation(t *testing.T) {
	for _, server := range []struct {
		name  string
		start func(testing.TB, s2stest.PeerConfig) *s2stest.Remote
	}{
		{"prosody", s2stest.StartProsody},
		{"ejabberd", startEjabberd},
	} {
		for _, tc := range []struct {
			name   string
			tls    bool
			method string
		}{
			{"dialback", false, "dialback"},
			{"tls-external", true, "external"},
		} {
			t.Run(server.name+"/"+tc.name, func(t *testing.T) {
				federate(t, server.name+".test", server.start, tc.tls, tc.method)
			})
		}
	}
}

func federate(t *testing.T, domain string, start func(testing.TB, s2stest.PeerConfig) *s2stest.Remote, useTLS bool, method string) {
	ourAddr := s2stest.FreeLoopback(t)
	ourIP, _, _ := net.SplitHostPort(ourAddr)
	dns := s2stest.StartDNS(t)
	dns.SetA(network, ourIP)
	// ejabberd resolves SRV targets with the system's resolver, which
	// knows no test names: the target is the address itself.
	dns.SetSRV("_xmpp-server._tcp."+network, s2stest.SRV{Target: ourIP, Port: 5269})
	pcfg := s2stest.PeerConfig{Domain: domain, Hosts: map[string]string{network: ourIP}, Users: map[string]string{"pat": "pat-secret"}, DNS: dns}
	// Our s2s finds the other server through DNS: its SRV record, then
	// the target's address.
	hcfg := s2stest.HostConfig{Network: network, Host: hostH, Listen: ourAddr, Plaintext: !useTLS,
		Args: []string{"-dns", dns.Addr()}}
	if useTLS {
		ca := s2stest.NewCA(t, "Federation test CA")
		pcfg.Cert, pcfg.CAFile = ca.Issue(domain), ca.File
		hcfg.Cert, hcfg.CAFile = ca.Issue(network), ca.File
	}
	remote := start(t, pcfg)
	remoteIP, remotePort, _ := net.SplitHostPort(remote.S2SAddr)
	port, _ := strconv.Atoi(remotePort)
	dns.SetSRV("_xmpp-server._tcp."+domain, s2stest.SRV{Target: "xmpp." + domain, Port: uint16(port)})
	dns.SetA("xmpp."+domain, remoteIP)
	h := s2stest.StartHost(t, bins, hcfg)
	// Stand-ins: the resolver gets what is addressed to users@N, sm what
	// is addressed to the host.
	resolver := h.Component("resolver-1."+hostH, component.Bind{Name: network, Multi: true})
	sm := h.Component("sm-1."+hostH, component.Bind{Name: hostH, Multi: true})
	patJID := "pat@" + domain
	pat := s2stest.StartUser(t, patJID, "pat-secret", remote.C2SAddr)

	t.Run("message out", func(t *testing.T) {
		resolver.Send(t, `<message from='alice@`+network+`/phone' to='`+patJID+`' id='k2p' type='chat'><body>hello pat</body></message>`)
		pat.Expect(t, `from="alice@`+network+`/phone"`, `id="k2p"`, "<body>hello pat</body>")
	})

	t.Run("message in", func(t *testing.T) {
		pat.Send(t, `<message to='alice@`+network+`' id='p2k' type='chat'><body>hello alice</body></message>`)
		got := resolver.Expect(t, "p2k", "hello alice")
		if !strings.Contains(got, patJID+"/") || !strings.Contains(got, "alice@"+network) {
			t.Errorf("received %s", got)
		}
	})

	t.Run("kontalk user subscribes", func(t *testing.T) {
		resolver.Send(t, `<presence from='alice@`+network+`' to='`+patJID+`' type='subscribe' id='sub1'/>`)
		pat.Expect(t, `from="alice@`+network+`"`, `type="subscribe"`)
		pat.Send(t, `<presence to='alice@`+network+`' type='subscribed' id='sub1ok'/>`)
		resolver.Expect(t, "id='sub1ok'", "subscribed", patJID)
		// The contact's server then sends its presence to the new
		// subscriber.
		resolver.Expect(t, patJID+"/", "on the other server")
	})

	t.Run("remote user subscribes", func(t *testing.T) {
		pat.Send(t, `<presence to='alice@`+network+`' type='subscribe' id='sub2'/>`)
		resolver.Expect(t, "id='sub2'", "'subscribe'", patJID, "to='alice@"+network+"'")
		resolver.Send(t, `<presence from='alice@`+network+`' to='`+patJID+`' type='subscribed' id='sub2ok'/>`)
		resolver.Send(t, `<presence from='alice@`+network+`/phone' to='`+patJID+`' id='pres1'><status>on kontalk</status></presence>`)
		pat.Expect(t, `from="alice@`+network+`"`, `type="subscribed"`)
		pat.Expect(t, `from="alice@`+network+`/phone"`, "on kontalk")
	})

	t.Run("host address leaves as the network's", func(t *testing.T) {
		sm.Send(t, `<message from='alice@`+hostH+`/phone' to='`+patJID+`' id='hostjid' type='chat'><body>from the host</body></message>`)
		pat.Expect(t, `from="alice@`+network+`/phone"`, `id="hostjid"`)
	})

	t.Run("authentication", func(t *testing.T) {
		out := h.WaitOutLink(t, domain)
		if out.Method != method || out.TLS != useTLS || out.Local != network {
			t.Errorf("link to %s: %+v", domain, out)
		}
		if useTLS && !out.PeerCertValid {
			t.Errorf("%s's certificate was not found valid", domain)
		}
		found := false
		for _, in := range h.Connz(t).In {
			if in.Domains[domain] == method && in.TLS == useTLS {
				found = true
			}
		}
		if !found {
			t.Errorf("no inbound stream from %s authenticated by %s: %+v", domain, method, h.Connz(t).In)
		}
		if method == "dialback" && h.Metric(t, `kontalk_s2s_dialback_verify_total{result="valid"}`) < 1 {
			t.Errorf("%s never had a dialback key of ours verified", domain)
		}
		// The other server's side of the story.
		want := remote.DialbackLog
		if useTLS {
			want = remote.ExternalLog
		}
		found = false
		for _, line := range strings.Split(remote.Proc.Output(), "\n") {
			if strings.Contains(line, want) && strings.Contains(line, network) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s did not log %q for %s", domain, want, network)
		}
	})
}
