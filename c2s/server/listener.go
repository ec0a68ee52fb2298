package server

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/stream"
)

// accept serves one listener: the STARTTLS port, or the direct TLS port
// of XEP-0368 (direct).
func (s *Server) accept(ln net.Listener, direct bool) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Out of descriptors and the like: wait a moment rather than
			// spin, and keep serving the connections already open.
			s.log.Warn("accept failed", zap.Error(err))
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.admit(nc, direct)
	}
}

// admit registers a new connection, or refuses it when its address has
// too many.
func (s *Server) admit(nc net.Conn, direct bool) {
	remote := addrPort(nc.RemoteAddr())
	listener := "starttls"
	if direct {
		listener = "tls"
	}
	s.m.accepted.WithLabelValues(listener).Inc()
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.perIP[remote.Addr()] >= s.opts.MaxConnsPerIP {
		s.mu.Unlock()
		s.m.refused.WithLabelValues("per-ip-limit").Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.refuse(nc, direct, &stream.Error{Condition: stream.PolicyViolation,
				Text: "too many connections from " + remote.Addr().String()})
		}()
		return
	}
	s.perIP[remote.Addr()]++
	c := newConn(s, nc, s.ids.Add(1), remote, direct)
	s.conns[c.id] = c
	s.m.connections.Inc()
	s.wg.Add(1)
	s.mu.Unlock()
	go c.loop()
}

// refuse answers a connection that is not served with a stream error. A
// direct TLS connection is closed without one: writing it would need a
// handshake, which is what refusing saves.
func (s *Server) refuse(nc net.Conn, direct bool, e *stream.Error) {
	if !direct {
		buf := stream.AppendOpen(nil, stream.Open{NS: stream.NSClient, From: s.opts.Network, ID: newID(8), Version: "1.0"})
		buf = e.AppendXML(buf)
		buf = append(buf, stream.Close...)
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(buf)
	}
	lingerClose(nc)
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
