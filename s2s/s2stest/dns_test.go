package s2stest

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestDNS(t *testing.T) {
	d := StartDNS(t)
	d.SetA("xmpp.example.test", "127.1.2.3")
	d.SetSRV("_xmpp-server._tcp.example.test", SRV{Target: "xmpp.example.test", Port: 5270, Priority: 5})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.Addr())
	}}
	ctx := context.Background()
	_, srvs, err := r.LookupSRV(ctx, "xmpp-server", "tcp", "example.test")
	if err != nil || len(srvs) != 1 || srvs[0].Target != "xmpp.example.test." || srvs[0].Port != 5270 {
		t.Fatalf("SRV: %+v %v", srvs, err)
	}
	ips, err := r.LookupIP(ctx, "ip4", "xmpp.example.test")
	if err != nil || len(ips) != 1 || ips[0].String() != "127.1.2.3" {
		t.Fatalf("A: %v %v", ips, err)
	}
	var dnsErr *net.DNSError
	if _, err := r.LookupIP(ctx, "ip4", "missing.example.test"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("missing name: %v", err)
	}
}
