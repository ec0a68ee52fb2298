package test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/s2s/s2stest"
)

const (
	hostP = "p.kontalk.test"
	hostQ = "q.kontalk.test"
)

// netHost is a host of the test network with stand-ins for its sm
// (bound to the host name) and its resolver (bound to the network).
type netHost struct {
	*s2stest.Host
	sm, resolver *s2stest.Component
	key          *keyring.ServerKey
}

func serverKey(t *testing.T, host string) *keyring.ServerKey {
	t.Helper()
	k, err := keyring.GenerateServerKey("Kontalk "+host, "admin@"+host, keyring.ServerKeyOptions{RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startNetwork starts hosts P and Q of one network sharing a Redis
// directory that lists both with their server keys.
func startNetwork(t *testing.T) (p, q *netHost, dir *s2stest.Directory) {
	t.Helper()
	rds := testkit.StartRedis(t, testkit.RedisOptions{})
	dir = s2stest.NewDirectory(t, rds.URL())
	hosts := map[string]*netHost{}
	addrs := map[string]string{}
	for _, h := range []string{hostP, hostQ} {
		hosts[h] = &netHost{key: serverKey(t, h)}
		addrs[h] = testkit.FreeAddr(t)
		dir.AddHost(h, hosts[h].key.Fingerprint(), addrs[h])
	}
	for _, h := range []string{hostP, hostQ} {
		nh := hosts[h]
		nh.Host = s2stest.StartHost(t, bins, s2stest.HostConfig{
			Network: network, Host: h, Listen: addrs[h], ServerKey: nh.key, RedisURL: rds.URL(), Plaintext: true,
		})
		nh.sm = nh.Component("sm-1."+h, component.Bind{Name: h, Multi: true}, component.Bind{Name: "sm." + h, Multi: true})
		nh.resolver = nh.Component("resolver-1."+h, component.Bind{Name: network, Multi: true})
	}
	return hosts[hostP], hosts[hostQ], dir
}

// Two hosts of one network: stanzas the resolver addressed to user@Q
// reach Q's sm byte for byte, over a link both hosts authenticated by
// their server keys, and so do replies, presences, receipts, session
// envelopes to a c2s on the other host, and federated stanzas one host
// relays to the other.
func TestNetworkHosts(t *testing.T) {
	p, q, dir := startNetwork(t)

	t.Run("message and receipt", func(t *testing.T) {
		msg := `<message from='alice@` + network + `/phone' to='bob@` + hostQ + `' id='m1' type='chat'><body>hello Bob</body><request xmlns='urn:xmpp:receipts'/><e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>hQEMA0f8Q1vq&amp;</e2e></message>`
		p.sm.Send(t, msg)
		if got := q.sm.Expect(t, "id='m1'"); got != msg {
			t.Errorf("Q's sm received\n%s\nP's sm sent\n%s", got, msg)
		}
		rcpt := `<message from="bob@` + network + `/laptop" to="alice@` + hostP + `/phone" id="r1"><received xmlns="urn:xmpp:receipts" id="m1"/></message>`
		q.sm.Send(t, rcpt)
		if got := p.sm.Expect(t, `id="r1"`); got != rcpt {
			t.Errorf("P's sm received\n%s\nQ's sm sent\n%s", got, rcpt)
		}
	})

	t.Run("presence", func(t *testing.T) {
		p.sm.Send(t, `<presence from='alice@`+network+`/phone' to='bob@`+hostQ+`' id='p1'><priority>5</priority><status>here</status></presence>`)
		q.sm.Expect(t, "id='p1'", "<status>here</status>")
		q.sm.Send(t, `<presence from='bob@`+network+`' to='alice@`+hostP+`' type='subscribed' id='p2'/>`)
		p.sm.Expect(t, "id='p2'", "type='subscribed'")
		q.sm.Send(t, `<presence from='bob@`+network+`/laptop' to='alice@`+hostP+`/phone' type='unavailable' id='p3'/>`)
		p.sm.Expect(t, "id='p3'", "type='unavailable'")
	})

	t.Run("large stanzas", func(t *testing.T) {
		// Up to the s2s limit (512 KiB) a stanza crosses; above, the
		// sending host bounces it. (Runs of text stay under the router's
		// 256 KiB limit for character data.)
		chunk := "<x>" + strings.Repeat("b", 200<<10) + "</x>"
		big := `<message from='alice@` + network + `/phone' to='bob@` + hostQ + `' id='big1' type='chat'>` + chunk + chunk + `</message>`
		p.sm.Send(t, big)
		if got := q.sm.Expect(t, "id='big1'"); got != big {
			t.Errorf("a %d-byte stanza arrived as %d bytes", len(big), len(got))
		}
		p.sm.Send(t, `<message from='alice@`+network+`/phone' to='bob@`+hostQ+`' id='big2' type='chat'>`+chunk+chunk+chunk+`</message>`)
		p.resolver.Expect(t, "id='big2'", "type='error'", "policy-violation")
	})

	t.Run("session envelope to a c2s on the other host", func(t *testing.T) {
		c2s := q.Component("c2s-2." + hostQ)
		p.sm.Send(t, `<message from='sm-1.`+hostP+`' to='c2s-2.`+hostQ+`'><session xmlns='http://kontalk.org/protocol/session' sid='s1' action='end' reason='conflict'/></message>`)
		c2s.Expect(t, "sid='s1'", "from='sm-1."+hostP+"'")
	})

	t.Run("federated stanza relayed between hosts", func(t *testing.T) {
		p.sm.Send(t, `<message from='pat@prosody.example/home' to='bob@`+hostQ+`/laptop' id='fed1' type='chat'><body>hi from outside</body></message>`)
		q.sm.Expect(t, "id='fed1'", "from='pat@prosody.example/home'")
	})

	t.Run("authenticated by server keys", func(t *testing.T) {
		out := p.WaitOutLink(t, hostQ)
		if out.Kind != "network" || out.Method != "key" || !out.TLS || out.Local != hostP {
			t.Errorf("P's link to Q: %+v", out)
		}
		found := false
		for _, in := range q.Connz(t).In {
			if in.Peer == hostP && in.Domains[hostP] == "key" && in.Kind == "network" && in.TLS {
				found = true
			}
		}
		if !found {
			t.Errorf("Q has no inbound stream from P authenticated by key: %+v", q.Connz(t).In)
		}
		if n := q.Metric(t, `kontalk_s2s_auth_total{direction="in",method="key",result="success"}`); n < 1 {
			t.Errorf("Q counted %v key authentications", n)
		}
	})

	t.Run("host without a lease is down", func(t *testing.T) {
		dir.DropLease(hostQ)
		testkit.Eventually(t, s2stest.Timeout, "P sees Q down", func() bool {
			for _, h := range p.Connz(t).Hosts {
				if h.Name == hostQ {
					return !h.Up
				}
			}
			return false
		})
		p.sm.Send(t, `<message from='alice@`+network+`/phone' to='bob@`+hostQ+`/laptop' id='down1' type='chat'><body>x</body></message>`)
		// The bounce goes to alice@N: the resolver's.
		p.resolver.Expect(t, "id='down1'", "type='error'", "remote-server-not-found", "down")
		if q.sm.Count("id='down1'") != 0 {
			t.Error("a stanza reached a host whose lease expired")
		}
		dir.SetLease(hostQ)
		testkit.Eventually(t, s2stest.Timeout, "P sees Q up", func() bool {
			for _, h := range p.Connz(t).Hosts {
				if h.Name == hostQ {
					return h.Up
				}
			}
			return false
		})
		p.sm.Send(t, `<message from='alice@`+network+`/phone' to='bob@`+hostQ+`' id='up1' type='chat'><body>x</body></message>`)
		q.sm.Expect(t, "id='up1'")
	})
}

// Q's s2s is killed while P sends to Q: stanzas that cannot go are
// bounced to their sender, never silently kept, and once Q's s2s is back
// the flow resumes over a new link. (No acknowledged message is lost end
// to end because sm stores it in the recipient's inbox before it routes
// it; this test checks s2s's part: bounce or deliver.)
func TestNetworkHostKilled(t *testing.T) {
	p, q, _ := startNetwork(t)
	p.sm.Send(t, `<message from='alice@`+network+`/phone' to='bob@`+hostQ+`' id='warm' type='chat'><body>x</body></message>`)
	q.sm.Expect(t, "id='warm'")

	var mu sync.Mutex
	sent := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			id := sent
			sent++
			mu.Unlock()
			p.sm.Sendf(t, `<message from='alice@%s/phone' to='bob@%s' id='k%d' type='chat'><body>%d</body></message>`, network, hostQ, id, id)
			time.Sleep(2 * time.Millisecond) // pacing the sender, not waiting for a result
		}
	}()
	q.sm.WaitCount(t, "id='k", 20)
	q.S2S.Kill()
	// While Q's s2s is down, P bounces what it cannot deliver (to
	// alice@N: the resolver's).
	p.resolver.WaitCount(t, "type='error'", 5)
	q.StartS2S()
	// The flow resumes once P's next attempt (after its short retry
	// wait) reaches the new process.
	before := q.sm.Count("id='k")
	testkit.Eventually(t, s2stest.Timeout, "flow resumes after Q's s2s restarts", func() bool {
		return q.sm.Count("id='k") >= before+20
	})
	close(stop)
	wg.Wait()

	delivered := map[int]bool{}
	for _, s := range q.sm.Received() {
		if id, ok := stanzaNumber(s); ok {
			delivered[id] = true
		}
	}
	bounced := map[int]string{}
	for _, s := range p.resolver.Received() {
		if id, ok := stanzaNumber(s); ok && strings.Contains(s, "type='error'") {
			bounced[id] = s
		}
	}
	// From the first stanza delivered over the new link on, every one is
	// delivered; before, each was delivered or bounced, except the few in
	// flight inside the killed process.
	resumed := sent
	for i := sent - 1; i >= 0; i-- {
		if !delivered[i] {
			break
		}
		resumed = i
	}
	lost := 0
	for i := range sent {
		switch {
		case delivered[i]:
		case bounced[i] != "":
			if !strings.Contains(bounced[i], "remote-server-") {
				t.Errorf("k%d bounced with %s", i, bounced[i])
			}
		case i >= resumed:
			t.Errorf("k%d, sent after the flow resumed, was neither delivered nor bounced", i)
		default:
			lost++
		}
	}
	if resumed == sent {
		t.Error("the last stanza sent was not delivered")
	}
	t.Logf("%d stanzas sent, %d delivered, %d bounced, %d in flight in the killed s2s", sent, len(delivered), len(bounced), lost)
}

// stanzaNumber reads n from id='kn'.
func stanzaNumber(s string) (int, bool) {
	i := strings.Index(s, "id='k")
	if i < 0 {
		return 0, false
	}
	rest := s[i+5:]
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, '\'')])
	return n, err == nil
}
