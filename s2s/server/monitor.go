package server

import (
	"slices"
	"time"
)

// Connz is a snapshot of the streams, served on /connz.
type Connz struct {
	In     []InInfo       `json:"in"`
	Out    []OutInfo      `json:"out"`
	Hosts  []networkHost  `json:"hosts,omitempty"`
	Recent []ClosedStream `json:"recently_closed"`
}

// InInfo describes an open inbound stream.
type InInfo struct {
	ID      uint64            `json:"id"`
	Remote  string            `json:"remote"`
	Kind    string            `json:"kind,omitempty"`
	Local   string            `json:"local,omitempty"`
	Peer    string            `json:"peer,omitempty"`
	TLS     bool              `json:"tls"`
	Domains map[string]string `json:"domains"` // authenticated domain → method
	Stanzas uint64            `json:"stanzas"`
	Started time.Time         `json:"started"`
}

// OutInfo describes an outbound link.
type OutInfo struct {
	ID            uint64    `json:"id"`
	Kind          string    `json:"kind"`
	Local         string    `json:"local"`
	Remote        string    `json:"remote"`
	Addr          string    `json:"addr,omitempty"`
	State         string    `json:"state"`
	TLS           bool      `json:"tls"`
	Method        string    `json:"method,omitempty"`
	PeerCertValid bool      `json:"peer_cert_valid"`
	QueuedBytes   int       `json:"queued_bytes"`
	Stanzas       uint64    `json:"stanzas"`
	Started       time.Time `json:"started"`
}

// ClosedStream describes a stream or link that ended, and why.
type ClosedStream struct {
	ID        uint64    `json:"id"`
	Direction string    `json:"direction"`
	Kind      string    `json:"kind"`
	Local     string    `json:"local,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	Domains   []string  `json:"domains,omitempty"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error,omitempty"`
	Stanzas   uint64    `json:"stanzas"`
	Started   time.Time `json:"started"`
	Closed    time.Time `json:"closed"`
}

// Connz returns the open streams and links (by id), the hosts of the
// network as last read, and the recent closes.
func (s *Server) Connz() Connz {
	s.mu.Lock()
	ins := make([]*inStream, 0, len(s.ins))
	for _, c := range s.ins {
		ins = append(ins, c)
	}
	links := make([]*outLink, 0, len(s.links))
	for _, l := range s.links {
		links = append(links, l)
	}
	z := Connz{Recent: slices.Clone(s.recent)}
	s.mu.Unlock()
	for _, c := range ins {
		c.mu.Lock()
		info := InInfo{ID: c.id, Remote: c.raw.RemoteAddr().String(), Local: c.to, Peer: c.from, TLS: c.tls,
			Domains: make(map[string]string, len(c.domains)), Stanzas: c.in.Load(), Started: c.started}
		if c.to != "" {
			info.Kind = kindFederation
			if c.network {
				info.Kind = kindNetwork
			}
		}
		for d, m := range c.domains {
			info.Domains[d] = m
		}
		c.mu.Unlock()
		z.In = append(z.In, info)
	}
	for _, l := range links {
		l.mu.Lock()
		z.Out = append(z.Out, OutInfo{ID: l.id, Kind: l.kind(), Local: l.local, Remote: l.remote, Addr: l.addr,
			State: l.state.String(), TLS: l.tls, Method: l.method, PeerCertValid: l.peerCertValid.Load(),
			QueuedBytes: l.pendingBytes, Stanzas: l.out.Load(), Started: l.started})
		l.mu.Unlock()
	}
	slices.SortFunc(z.In, func(a, b InInfo) int { return cmpID(a.ID, b.ID) })
	slices.SortFunc(z.Out, func(a, b OutInfo) int { return cmpID(a.ID, b.ID) })
	for _, h := range s.dir.snapshot().hosts {
		z.Hosts = append(z.Hosts, h)
	}
	slices.SortFunc(z.Hosts, func(a, b networkHost) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return z
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
