// Package component speaks the Jabber component protocol (XEP-0114) and
// the router extension of this server: the handshake both sides compute,
// the bind/unbind nonzas and component presence (docs/router-protocol.md),
// and Client, the connection every process of the server keeps to the
// router.
package component
