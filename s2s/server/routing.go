package server

import (
	"bytes"
	"strings"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// isStanza reports whether a top-level element is a stanza by name.
func isStanza(top *xml.Top) bool {
	return top.Is("message") || top.Is("presence") || top.Is("iq")
}

// under reports whether domain is sub or a name under it.
func under(domain, sub string) bool {
	return domain == sub || strings.HasSuffix(domain, sub) && len(domain) > len(sub) && domain[len(domain)-len(sub)-1] == '.'
}

// networkHostOf returns the host of the network domain belongs to: the
// host itself or a name under it (c2s-1.Q, sm.Q). This host is not
// included.
func (s *Server) networkHostOf(domain string) (networkHost, bool) {
	if s.dir == nil {
		return networkHost{}, false
	}
	for d := domain; ; {
		if d != s.opts.Host {
			if h, ok := s.dir.host(d); ok {
				return h, true
			}
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return networkHost{}, false
		}
		d = d[i+1:]
	}
}

// internal reports whether domain names this host or another host of
// the network, or a process under one: names federated servers have no
// business with.
func (s *Server) internal(domain string) bool {
	if under(domain, s.opts.Host) {
		return true
	}
	_, ok := s.networkHostOf(domain)
	return ok
}

// local reports whether the local router serves domain (or should: the
// network and host domains are always this host's).
func (s *Server) local(domain string) bool {
	return domain == s.opts.Network || under(domain, s.opts.Host) || s.routed(domain)
}

// public reports whether federated servers may address domain here, and
// whether stanzas may leave for the federation from it: the network
// domain and the names routed here that are not internal (media.N).
func (s *Server) public(domain string) bool {
	return domain == s.opts.Network || s.routed(domain) && !s.internal(domain)
}

// fromRouter sends out a stanza the router handed to s2s: for a domain
// nobody bound locally, or for s2s's own name. It runs on the router
// client's reading goroutine and never waits for a link.
func (s *Server) fromRouter(top *xml.Top) {
	if !isStanza(top) {
		s.m.dropped.WithLabelValues("not-a-stanza").Inc()
		return
	}
	s.routeOut(top)
}

// routeOut decides where a stanza goes and queues it on that link.
func (s *Server) routeOut(top *xml.Top) {
	if len(top.Raw) > s.opts.MaxStanza {
		s.bounce(top, stanza.Errorf(stanza.PolicyViolation, "stanzas to other servers are limited to %d bytes", s.opts.MaxStanza))
		return
	}
	if top.StreamPrefix {
		s.bounce(top, stanza.Errorf(stanza.BadRequest, "the stanza uses a namespace prefix declared on the stream header"))
		return
	}
	toDomain, ok := jid.AppendDomain(nil, []byte(top.Value("to")))
	if !ok {
		s.bounce(top, stanza.Errorf(stanza.JIDMalformed, "malformed 'to' address"))
		return
	}
	from := top.Value("from")
	fromDomain, ok := jid.AppendDomain(nil, []byte(from))
	if !ok {
		s.m.dropped.WithLabelValues("bad-from").Inc()
		return
	}
	to := string(toDomain)
	if to == s.opts.Name {
		s.bounce(top, stanza.Errorf(stanza.ServiceUnavailable, "%s serves no requests", s.opts.Name))
		return
	}
	if s.local(to) {
		s.bounce(top, stanza.Errorf(stanza.ServiceUnavailable, "%s is served on this host, but not available now", to))
		return
	}
	if s.dir.ready() != nil {
		// Until the directory is read, a host of the network looks like
		// a federated server: its stanzas would leave for the federation
		// with their from rewritten.
		s.bounce(top, &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable,
			Text: "the network directory has not been read yet"})
		return
	}
	if h, ok := s.networkHostOf(to); ok {
		if !h.Up {
			s.bounce(top, stanza.Errorf(stanza.RemoteServerNotFound, "host %s of the network is down", h.Name))
			return
		}
		raw, ok := rewrite(top, "", "")
		if !ok {
			s.bounce(top, stanza.Errorf(stanza.BadRequest, "the stanza cannot be re-addressed"))
			return
		}
		s.sendOut(pairKey{local: s.opts.Host, remote: h.Name}, &h, raw)
		return
	}
	// Federation: users speak as user@N, never as user@H.
	localDomain, newFrom := string(fromDomain), ""
	if localDomain == s.opts.Host || s.isNetworkHostName(localDomain) {
		local, _, resource := jid.Split([]byte(from))
		newFrom = s.opts.Network
		if local != nil {
			newFrom = string(local) + "@" + newFrom
		}
		if resource != nil {
			newFrom += "/" + string(resource)
		}
		localDomain = s.opts.Network
	}
	if !s.public(localDomain) {
		s.bounce(top, stanza.Errorf(stanza.NotAllowed, "%s may not send to other servers", localDomain))
		return
	}
	attr := ""
	if newFrom != "" {
		attr = "from"
	}
	raw, ok := rewrite(top, attr, newFrom)
	if !ok {
		s.bounce(top, stanza.Errorf(stanza.BadRequest, "the stanza cannot be re-addressed"))
		return
	}
	s.sendOut(pairKey{local: localDomain, remote: to}, nil, raw)
}

// isNetworkHostName reports whether domain is exactly a host of the
// network (not a name under one).
func (s *Server) isNetworkHostName(domain string) bool {
	_, ok := s.dir.host(domain)
	return ok
}

// rewrite returns the stanza's bytes for an s2s stream, with attribute
// name set to value when name is not empty. A stanza that names its
// namespace gets jabber:server; one that does not inherits it from the
// stream. Only start-tag attributes change: the payload is copied as it
// came.
func rewrite(top *xml.Top, name, value string) ([]byte, bool) {
	ns, hasNS := top.Attr("xmlns")
	fixNS := hasNS && string(ns) != stream.NSServer
	if name == "" {
		if !fixNS {
			return top.Raw, true
		}
		return top.AppendWithAttr(nil, "xmlns", stream.NSServer), true
	}
	raw := top.AppendWithAttr(nil, name, value)
	if !fixNS {
		return raw, true
	}
	t, err := xml.ParseTop(raw, xml.Scope{Default: stream.NSComponent})
	if err != nil {
		return nil, false
	}
	return t.AppendWithAttr(nil, "xmlns", stream.NSServer), true
}

// checkInbound applies the rules for a stanza received on an
// authenticated inbound stream before it goes to the router. It returns
// a stream error that ends the stream, or nil.
func (c *inStream) checkInbound(top *xml.Top, sc *scratch) *stream.Error {
	if ns, ok := top.Attr("xmlns"); ok && string(ns) != stream.NSServer {
		return stream.Errorf(stream.InvalidNamespace, "stanza in namespace %s on a server stream", ns)
	}
	var ok bool
	if sc.from, ok = top.AppendValue(sc.from[:0], "from"); !ok || len(sc.from) == 0 {
		return stream.Errorf(stream.ImproperAddressing, "stanza without a 'from' address")
	}
	if sc.to, ok = top.AppendValue(sc.to[:0], "to"); !ok || len(sc.to) == 0 {
		return stream.Errorf(stream.ImproperAddressing, "stanza without a 'to' address")
	}
	if sc.fromDomain, ok = jid.AppendDomain(sc.fromDomain[:0], sc.from); !ok {
		return stream.Errorf(stream.InvalidFrom, "malformed 'from' address")
	}
	if sc.toDomain, ok = jid.AppendDomain(sc.toDomain[:0], sc.to); !ok {
		return stream.Errorf(stream.ImproperAddressing, "malformed 'to' address")
	}
	// Route presences come from the router alone.
	if top.Is("presence") && bytes.Contains(top.Inner(), []byte(component.NS)) {
		return stream.Errorf(stream.PolicyViolation, "the namespace %s is reserved", component.NS)
	}
	if c.isNetwork() {
		// A host of the network is trusted like a component of this
		// host: it relays its users and the federated servers it
		// authenticated itself.
		return nil
	}
	if !c.authedFor(string(sc.fromDomain)) {
		c.log.Warn("spoofed 'from' refused", zap.ByteString("from", sc.from))
		return stream.Errorf(stream.InvalidFrom, "this stream is authenticated for %s, not %s", c.authedList(), sc.fromDomain)
	}
	if !c.srv.public(string(sc.toDomain)) {
		return stream.Errorf(stream.HostUnknown, "%s is not served here", sc.toDomain)
	}
	return nil
}

// scratch holds the buffers one reading goroutine reuses for every
// stanza.
type scratch struct {
	from, fromDomain, to, toDomain []byte
}
