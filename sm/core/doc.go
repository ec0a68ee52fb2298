// Package core holds what every feature of sm shares: the names of the
// network, host and instance, the stanza being handled (parsed once),
// the session it came from, how to send (route to the router, or
// deliver to a client session through its c2s), and the builders for
// replies, errors and stanzas re-addressed without re-serializing them.
//
// Feature packages (roster, presence, inbox, blocking, lastactivity,
// disco, pubkey, version) build on it; sm/server wires them and decides
// which one handles a stanza.
package core
