// Package session is sm's side of the session protocol's lifecycle
// (docs/session-protocol.md §2, §4): it starts sessions (ending a
// session it replaces with reason conflict), ends them (broadcasting the
// unavailable presence and recording the logout) and checks keys at
// login (action auth: the stored fingerprint, or a valid newer key
// certified by the network's server key, pkg/keyring). Registration requests (§6) are sm/register's.
//
// Sessions live in Redis, so any sm instance can serve any session; the
// instance the router picks for the user handles its envelopes in order.
// Redis keys: sess:{u}, pres:{u}, sseq:{u}, c2ssess:{c2s}, hostsess:{H},
// user:{u}, inbox:{u}.
package session
