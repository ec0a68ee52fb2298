package test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
)

const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='%s'>`

// flow keeps two well-behaved components exchanging messages until the
// returned function is called; that function then checks every message
// arrived.
func flow(t *testing.T, r *router) (stop func()) {
	t.Helper()
	a := startComp(t, r, "good-a.example")
	b := startComp(t, r, "good-b.example")
	done := make(chan struct{})
	var sent int
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
			a.send(t, fmt.Sprintf(`<message from='a@good-a.example' to='b@good-b.example' id='flow-%d'><body>x</body></message>`, sent))
			sent++
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		got := b.waitCount(t, "id='flow-", sent)
		if len(got) != sent {
			t.Errorf("good components: %d of %d messages delivered", len(got), sent)
		}
		for _, s := range a.snapshot() {
			if strings.Contains(s, "type='error'") {
				t.Errorf("good component got an error: %s", s)
			}
		}
		t.Logf("good components exchanged %d messages meanwhile", sent)
	}
}

// Every hostile component gets the stream error that names its fault,
// while two good components keep exchanging messages.
func TestHostileComponents(t *testing.T) {
	r := startRouter(t, "-component", "thirdparty.example=tp-secret", "-handshake-timeout", "2s",
		"-queue", "1MiB", "-stall", "100ms")
	stop := flow(t, r)

	deep := strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000)
	laughs := `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol9 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol9;</lolz>`
	tests := []struct {
		name string
		run  func(t *testing.T) string // returns what the component received until closed
		want string                    // stream error condition
	}{
		{"wrong secret", func(t *testing.T) string {
			c := testkit.Dial(t, r.addr)
			c.Send(fmt.Sprintf(header, "evil.example"))
			c.Expect("id='", timeout)
			c.Send("<handshake>0000000000000000000000000000000000000000</handshake>")
			return c.ExpectClosed(timeout)
		}, "not-authorized"},
		{"third-party name with the server secret", func(t *testing.T) string {
			c := testkit.Dial(t, r.addr)
			c.Send(fmt.Sprintf(header, "thirdparty.example"))
			head := c.Expect("'>", timeout)
			id := head[strings.Index(head, "id='")+4:]
			id = id[:strings.IndexByte(id, '\'')]
			c.Send("<handshake>" + handshakeFor(id, secret) + "</handshake>")
			return c.ExpectClosed(timeout)
		}, "not-authorized"},
		{"name already bound", func(t *testing.T) string {
			c := testkit.Dial(t, r.addr)
			c.Send(fmt.Sprintf(header, "good-a.example"))
			head := c.Expect("'>", timeout)
			id := head[strings.Index(head, "id='")+4:]
			id = id[:strings.IndexByte(id, '\'')]
			c.Send("<handshake>" + handshakeFor(id, secret) + "</handshake>")
			return c.ExpectClosed(timeout)
		}, "conflict"},
		{"spoofed from", func(t *testing.T) string {
			c := rawComponent(t, r, "thirdparty.example", "tp-secret")
			c.Send(`<message from='admin@good-a.example' to='b@good-b.example' id='spoof'><body>trust me</body></message>`)
			return c.ExpectClosed(timeout)
		}, "invalid-from"},
		{"10 MiB stanza", func(t *testing.T) string {
			c := rawComponent(t, r, "big.example", secret)
			go func() {
				nc := c.NetConn()
				nc.SetWriteDeadline(time.Now().Add(timeout))
				nc.Write([]byte(`<message from='big.example' to='b@good-b.example'><body>`))
				nc.Write([]byte(strings.Repeat("A", 10<<20)))
			}()
			return c.ExpectClosed(timeout)
		}, "policy-violation"},
		{"billion laughs before the header", func(t *testing.T) string {
			c := testkit.Dial(t, r.addr)
			c.Send(`<?xml version='1.0'?>` + laughs)
			return c.ExpectClosed(timeout)
		}, "restricted-xml"},
		{"DOCTYPE in the stream", func(t *testing.T) string {
			c := rawComponent(t, r, "doctype.example", secret)
			c.Send(`<!DOCTYPE message [<!ENTITY x "y">]>`)
			return c.ExpectClosed(timeout)
		}, "restricted-xml"},
		{"entity reference", func(t *testing.T) string {
			c := rawComponent(t, r, "entity.example", secret)
			c.Send(`<message from='entity.example' to='b@good-b.example'><body>&lol9;</body></message>`)
			return c.ExpectClosed(timeout)
		}, "restricted-xml"},
		{"10,000 nested elements", func(t *testing.T) string {
			c := rawComponent(t, r, "deep.example", secret)
			c.Send(`<message from='deep.example' to='b@good-b.example'>` + deep + `</message>`)
			return c.ExpectClosed(timeout)
		}, "policy-violation"},
		{"not well-formed", func(t *testing.T) string {
			c := rawComponent(t, r, "broken.example", secret)
			c.Send(`<message from='broken.example' to='b@good-b.example'><body></message>`)
			return c.ExpectClosed(timeout)
		}, "not-well-formed"},
		{"slowloris before the handshake", func(t *testing.T) string {
			c := testkit.Dial(t, r.addr)
			h := fmt.Sprintf(header, "slow.example")
			go func() {
				nc := c.NetConn()
				for i := 0; i < len(h); i++ {
					if _, err := nc.Write([]byte{h[i]}); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
			return c.ExpectClosed(timeout)
		}, "connection-timeout"},
		{"never reads", func(t *testing.T) string {
			c := rawComponent(t, r, "deaf.example", secret)
			flooder := startComp(t, r, "flood.example")
			payload := strings.Repeat("z", 60<<10)
			for i := 0; i < 400; i++ {
				flooder.send(t, fmt.Sprintf(`<message from='flood.example' to='x@deaf.example' id='f%d'><body>%s</body></message>`, i, payload))
				if i%20 == 0 && len(flooder.snapshot()) > 0 {
					break // bounced: the router gave up on deaf.example
				}
			}
			flooder.expect(t, "service-unavailable")
			// Megabytes wait in socket buffers; the stream error comes
			// last, if there was room for it: only the close is certain
			// (the reason is checked in /connz below).
			return drainUntilClosed(t, c.NetConn())
		}, ""},
	}
	var wg sync.WaitGroup
	for _, tc := range tests {
		wg.Add(1)
		t.Run(tc.name, func(t *testing.T) {
			defer wg.Done()
			got := tc.run(t)
			if cond := streamError(got); cond != tc.want && tc.want != "" {
				t.Errorf("stream error %q, want %q; received %q", cond, tc.want, tail(got))
			}
		})
	}
	wg.Wait()
	stop()

	var connz struct {
		Recent []struct{ Name, Reason string } `json:"recently_closed"`
	}
	getJSON(t, r, "/connz", &connz)
	reasons := map[string]string{}
	for _, c := range connz.Recent {
		reasons[c.Name] = c.Reason
	}
	if reasons["deaf.example"] != "slow-consumer" {
		t.Errorf("deaf component closed for %q", reasons["deaf.example"])
	}
}

// A component that trickles a stanza byte by byte holds up nobody.
func TestSlowlorisAfterHandshake(t *testing.T) {
	r := startRouter(t)
	stop := flow(t, r)
	c := rawComponent(t, r, "trickle.example", secret)
	s := `<message from='trickle.example' to='b@good-b.example' id='trickled'><body>slow</body></message>`
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(s); i++ {
			c.NetConn().Write([]byte{s[i]})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-done
	stop()
}

func handshakeFor(id, secret string) string { return component.Handshake(id, secret) }

// drainUntilClosed reads and discards until the peer closes the
// connection, and returns the last bytes read.
func drainUntilClosed(t *testing.T, nc net.Conn) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(timeout))
	var last []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := nc.Read(buf)
		last = append(last, buf[:n]...)
		if len(last) > 4096 {
			last = last[len(last)-4096:]
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("waiting for the router to close the connection: %v", err)
			}
			return string(last)
		}
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return "…" + s[len(s)-300:]
	}
	return s
}
