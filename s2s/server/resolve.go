package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// defaultPort is the s2s port when DNS has no SRV record (RFC 6120 §3.2.2).
const defaultPort = 5269

// target is one address to try for a remote domain.
type target struct {
	addr      string // host:port
	directTLS bool   // TLS from the first byte (XEP-0368), no STARTTLS
	prio      uint16
}

// errNoService means the domain's DNS says it runs no XMPP server
// (an SRV record with target "."), RFC 6120 §3.2.1.
var errNoService = errors.New("the domain offers no XMPP server service")

// targets returns the addresses to try, in order, for an outbound link
// to domain: a static override, else the directory's address for a host
// of the network, else DNS SRV records for _xmpps-server._tcp (direct
// TLS) and _xmpp-server._tcp, else the domain itself on port 5269.
func (s *Server) targets(ctx context.Context, domain string, nh *networkHost) ([]target, error) {
	if addr, ok := s.opts.Peers[domain]; ok {
		return []target{{addr: addr}}, nil
	}
	if nh != nil && nh.Addr != "" {
		return []target{{addr: nh.Addr}}, nil
	}
	var out []target
	noService := 0
	for _, svc := range []struct {
		name   string
		direct bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, recs, err := s.opts.Resolver.LookupSRV(ctx, svc.name, "tcp", domain)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("SRV lookup for %s: %w", domain, ctx.Err())
			}
			continue // NXDOMAIN and the like: try the next way
		}
		if len(recs) == 1 && (recs[0].Target == "." || recs[0].Target == "") {
			noService++
			continue
		}
		for _, r := range recs {
			host := strings.TrimSuffix(r.Target, ".")
			if host == "" {
				continue
			}
			out = append(out, target{addr: net.JoinHostPort(host, strconv.Itoa(int(r.Port))), directTLS: svc.direct, prio: r.Priority})
		}
	}
	if len(out) == 0 {
		if noService == 2 {
			return nil, errNoService
		}
		return []target{{addr: net.JoinHostPort(domain, strconv.Itoa(defaultPort))}}, nil
	}
	// The resolver orders each set by priority and weight; merge them by
	// priority, direct TLS first among equals (XEP-0368 §3).
	slices.SortStableFunc(out, func(a, b target) int {
		if a.prio != b.prio {
			return int(a.prio) - int(b.prio)
		}
		switch {
		case a.directTLS && !b.directTLS:
			return -1
		case !a.directTLS && b.directTLS:
			return 1
		}
		return 0
	})
	return out, nil
}
