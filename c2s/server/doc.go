// Package server is c2s, the process Kontalk clients connect to: it
// accepts client streams (RFC 6120) on a STARTTLS port and a direct TLS
// port (XEP-0368), authenticates them with SASL EXTERNAL and Kontalk
// bridge certificates (XEP-0178, docs/c2s.md), binds resources, and relays
// stanzas between the clients and sm through the router, in the session
// envelopes of docs/session-protocol.md. It implements stream management
// (XEP-0198, with resumption), client state indication (XEP-0352), pings
// (XEP-0199), stream limits (XEP-0478) and hands in-band registration
// (XEP-0077) requests to sm. It keeps nothing beyond its sockets and the
// sessions on them: presence, rosters and messages are sm's.
//
// Files by concern: listener and lifecycle (server.go), one connection's
// state machine (conn.go: one handler per phase, in tls.go, sasl.go,
// bind.go, forward.go, sm.go, csi.go), rate and size limits (limits.go),
// the outbound side (writer.go), session state (session.go), the
// envelope wire format (envelope.go), metrics and /connz.
package server
