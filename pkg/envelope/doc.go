// Package envelope reads and writes the envelopes of the session
// protocol between c2s and sm (docs/session-protocol.md): a <message>
// between a c2s instance and a user's sm, with no type and no id, whose
// only child is <session xmlns='http://kontalk.org/protocol/session'/>.
// A client stanza travels inside it as the bytes c2s received, and comes
// out as the same bytes: nothing inside is re-serialized.
package envelope
