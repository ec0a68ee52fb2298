package server

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
)

// srvTable answers SRV lookups from a table: the records of
// _service._proto.name, or NXDOMAIN.
type srvTable map[string][]*net.SRV

func (s srvTable) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	recs, ok := s["_"+service+"._"+proto+"."+name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return "", recs, nil
}

func TestTargets(t *testing.T) {
	dns := srvTable{
		"_xmpp-server._tcp.srv.example": {
			{Target: "b.srv.example.", Port: 5270, Priority: 10},
			{Target: "a.srv.example.", Port: 5269, Priority: 5},
		},
		"_xmpps-server._tcp.srv.example":  {{Target: "tls.srv.example.", Port: 5223, Priority: 10}},
		"_xmpp-server._tcp.none.example":  {{Target: ".", Port: 0}},
		"_xmpps-server._tcp.none.example": {{Target: ".", Port: 0}},
		"_xmpp-server._tcp.half.example":  {{Target: ".", Port: 0}},
	}
	s := &Server{opts: Options{Resolver: dns, Peers: map[string]string{"static.example": "127.0.0.9:7000"}}}
	for _, tc := range []struct {
		domain string
		nh     *networkHost
		want   []target
		err    error
	}{
		{domain: "static.example", want: []target{{addr: "127.0.0.9:7000"}}},
		{domain: "q.kontalk.example", nh: &networkHost{Addr: "10.0.0.2:5269"}, want: []target{{addr: "10.0.0.2:5269"}}},
		{domain: "srv.example", want: []target{
			{addr: "a.srv.example:5269", prio: 5},
			{addr: "tls.srv.example:5223", directTLS: true, prio: 10},
			{addr: "b.srv.example:5270", prio: 10},
		}},
		{domain: "plain.example", want: []target{{addr: "plain.example:5269"}}},
		{domain: "half.example", want: []target{{addr: "half.example:5269"}}},
		{domain: "none.example", err: errNoService},
	} {
		got, err := s.targets(context.Background(), tc.domain, tc.nh)
		if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.domain, got, err, tc.want, tc.err)
		}
	}
}
