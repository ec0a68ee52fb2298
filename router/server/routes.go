package server

import (
	"slices"
	"strings"
)

// table is an immutable routing table. The reading goroutines load it
// with one atomic read per stanza; changes (binds, connections closing)
// build a new table under Server.mu and publish it. Binds are rare, so
// copying the map is cheaper than locking on every stanza.
type table struct {
	routes map[string]*route
	def    *conn // the default route, or nil
}

// route is a name and the connections bound to it: one, or several when
// the name was bound with multi.
type route struct {
	name  string
	multi bool
	conns []*conn // sorted by id, so the table is deterministic
}

func (t *table) clone() *table {
	n := &table{routes: make(map[string]*route, len(t.routes)+1), def: t.def}
	for k, v := range t.routes {
		n.routes[k] = v
	}
	return n
}

// pick chooses the connection for a stanza whose canonical bare 'to' is
// bare. With several connections it uses rendezvous hashing: each
// connection scores hash(bare) mixed with its own seed, the highest
// wins. A user's stanzas reach the same instance as long as the set is
// unchanged, and when an instance leaves only its users move.
func (r *route) pick(bare []byte) *conn {
	if len(r.conns) == 1 {
		return r.conns[0]
	}
	h := fnv64(bare)
	var best *conn
	var bestScore uint64
	for _, c := range r.conns {
		if s := mix64(h ^ c.seed); best == nil || s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// fnv64 is FNV-1a: fixed, so the choice of instance is the same in every
// router process and can be computed by anyone (docs/router-protocol.md).
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// fnv64String is fnv64 of a string, without converting it.
func fnv64String(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finalizer: it spreads every input bit over the
// whole output, so scores of different seeds are independent.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// withConn returns a copy of r with c added.
func (r *route) withConn(c *conn) *route {
	n := &route{name: r.name, multi: r.multi, conns: make([]*conn, 0, len(r.conns)+1)}
	n.conns = append(n.conns, r.conns...)
	n.conns = append(n.conns, c)
	slices.SortFunc(n.conns, func(a, b *conn) int { return cmpUint64(a.id, b.id) })
	return n
}

// withoutConn returns a copy of r without c, or nil when none is left.
func (r *route) withoutConn(c *conn) *route {
	n := &route{name: r.name, multi: r.multi}
	for _, x := range r.conns {
		if x != c {
			n.conns = append(n.conns, x)
		}
	}
	if len(n.conns) == 0 {
		return nil
	}
	return n
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// underName reports whether name is own or a subdomain of it.
func underName(name, own string) bool {
	return name == own || strings.HasSuffix(name, "."+own)
}
