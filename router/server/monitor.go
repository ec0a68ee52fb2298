package server

import (
	"slices"
	"time"
)

// Routez is a snapshot of the routing table, served on /routez.
type Routez struct {
	Routes  []RouteInfo `json:"routes"`
	Default string      `json:"default,omitempty"` // component holding the default route
}

// RouteInfo is one route: a name and the components bound to it.
type RouteInfo struct {
	Name       string   `json:"name"`
	Multi      bool     `json:"multi,omitempty"`
	Components []string `json:"components"`
}

// Routez returns the routing table, sorted by name.
func (s *Server) Routez() Routez {
	t := s.table.Load()
	var z Routez
	if t.def != nil {
		z.Default = t.def.name
	}
	for _, rt := range t.routes {
		ri := RouteInfo{Name: rt.name, Multi: rt.multi}
		for _, c := range rt.conns {
			ri.Components = append(ri.Components, c.name)
		}
		z.Routes = append(z.Routes, ri)
	}
	slices.SortFunc(z.Routes, func(a, b RouteInfo) int {
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

// Connz is a snapshot of the connections, served on /connz.
type Connz struct {
	Open   []ConnInfo   `json:"open"`
	Recent []ClosedConn `json:"recently_closed"`
}

// ConnInfo describes an open connection.
type ConnInfo struct {
	ID          uint64    `json:"id"`
	Name        string    `json:"name"`
	Remote      string    `json:"remote"`
	Trusted     bool      `json:"trusted"`
	Bound       []string  `json:"bound"`
	In          uint64    `json:"stanzas_in"`
	Out         uint64    `json:"stanzas_out"`
	QueuedBytes int       `json:"queued_bytes"`
	Started     time.Time `json:"started"`
}

// ClosedConn describes a connection that ended, and why.
type ClosedConn struct {
	ID      uint64    `json:"id"`
	Name    string    `json:"name"`
	Remote  string    `json:"remote"`
	Reason  string    `json:"reason"`
	In      uint64    `json:"stanzas_in"`
	Out     uint64    `json:"stanzas_out"`
	Started time.Time `json:"started"`
	Closed  time.Time `json:"closed"`
}

// Connz returns the open connections (by id) and the recent closes.
func (s *Server) Connz() Connz {
	s.mu.Lock()
	defer s.mu.Unlock()
	var z Connz
	for _, c := range s.conns {
		if !c.registered {
			continue
		}
		q, _ := c.out.Len()
		z.Open = append(z.Open, ConnInfo{ID: c.id, Name: c.name, Remote: c.nc.RemoteAddr().String(),
			Trusted: c.trusted, Bound: slices.Clone(c.bound), In: c.in.Load(), Out: c.outCount.Load(),
			QueuedBytes: q, Started: c.started})
	}
	slices.SortFunc(z.Open, func(a, b ConnInfo) int { return cmpUint64(a.ID, b.ID) })
	z.Recent = slices.Clone(s.recent)
	return z
}
