package s2stest

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is an authoritative DNS server over UDP on loopback for federation
// tests: servers that look domains up in DNS (SRV records, then A) find
// each other on loopback without touching the system's resolver. It
// answers the A and SRV records it was given and NXDOMAIN otherwise.
type DNS struct {
	t    testing.TB
	conn net.PacketConn
	done chan struct{}

	mu  sync.Mutex
	a   map[string]netip.Addr
	srv map[string][]SRV
}

// SRV is one SRV record's data.
type SRV struct {
	Target         string
	Port, Priority uint16
}

// StartDNS starts the server; it stops when the test ends.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &DNS{t: t, conn: conn, done: make(chan struct{}), a: map[string]netip.Addr{}, srv: map[string][]SRV{}}
	go d.serve()
	t.Cleanup(func() {
		conn.Close()
		<-d.done
	})
	return d
}

// Addr returns the server's address, "127.0.0.1:<port>".
func (d *DNS) Addr() string { return d.conn.LocalAddr().String() }

// Port returns the server's UDP port.
func (d *DNS) Port() int { return d.conn.LocalAddr().(*net.UDPAddr).Port }

// SetA answers name with the IPv4 address ip.
func (d *DNS) SetA(name, ip string) {
	d.t.Helper()
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is4() {
		d.t.Fatalf("dns: %q is not an IPv4 address", ip)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a[canonicalName(name)] = addr
}

// SetSRV answers the SRV name (_xmpp-server._tcp.example) with records.
func (d *DNS) SetSRV(name string, records ...SRV) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.srv[canonicalName(name)] = records
}

func canonicalName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

func (d *DNS) serve() {
	defer close(d.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp, ok := d.answer(buf[:n]); ok {
			d.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query.
func (d *DNS) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(q.Name.String())
	d.mu.Lock()
	a, hasA := d.a[name]
	srvs, hasSRV := d.srv[name]
	d.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !hasA && !hasSRV {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	res := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
	switch {
	case q.Type == dnsmessage.TypeA && hasA:
		if b.AResource(res, dnsmessage.AResource{A: a.As4()}) != nil {
			return nil, false
		}
	case q.Type == dnsmessage.TypeSRV && hasSRV:
		for _, s := range srvs {
			target, err := dnsmessage.NewName(canonicalName(s.Target))
			if err != nil {
				return nil, false
			}
			if b.SRVResource(res, dnsmessage.SRVResource{Priority: s.Priority, Weight: 1, Port: s.Port, Target: target}) != nil {
				return nil, false
			}
		}
	}
	resp, err := b.Finish()
	return resp, err == nil
}
