package server

import (
	"cmp"
	"slices"
	"time"
)

// Connz is a snapshot of the connections, served on /connz.
type Connz struct {
	Open     []ConnInfo   `json:"open"`
	Sessions int          `json:"sessions"`
	Recent   []ClosedConn `json:"recently_closed"`
}

// ConnInfo describes an open connection.
type ConnInfo struct {
	ID          uint64    `json:"id"`
	Remote      string    `json:"remote"`
	JID         string    `json:"jid,omitempty"`
	In          uint64    `json:"stanzas_in"`
	Out         uint64    `json:"stanzas_out"`
	QueuedBytes int       `json:"queued_bytes"`
	Started     time.Time `json:"started"`
}

// ClosedConn describes a connection that ended, and why.
type ClosedConn struct {
	ID      uint64    `json:"id"`
	Remote  string    `json:"remote"`
	JID     string    `json:"jid,omitempty"`
	Reason  string    `json:"reason"`
	In      uint64    `json:"stanzas_in"`
	Out     uint64    `json:"stanzas_out"`
	Started time.Time `json:"started"`
	Closed  time.Time `json:"closed"`
}

// Connz returns the open connections (by id), the number of sessions and
// the recent closes.
func (s *Server) Connz() Connz {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := Connz{Sessions: len(s.sessions), Open: make([]ConnInfo, 0, len(s.conns))}
	for _, c := range s.conns {
		z.Open = append(z.Open, ConnInfo{ID: c.id, Remote: c.remote.String(), JID: c.boundJID(),
			In: c.in.Load(), Out: c.out.Load(), QueuedBytes: c.w.queued(), Started: c.started})
	}
	slices.SortFunc(z.Open, func(a, b ConnInfo) int { return cmp.Compare(a.ID, b.ID) })
	z.Recent = slices.Clone(s.recent)
	return z
}
