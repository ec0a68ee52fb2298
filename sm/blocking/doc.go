// Package blocking implements XEP-0191 blocking command (namespace
// urn:xmpp:blocking): the blocking list get, block and unblock (empty
// unblock clears the list), with pushes to every session of the user.
// Blocking a contact sends it unavailable presence from the user's
// sessions; unblocking sends it the current presence.
//
// The filtering itself happens where stanzas pass (sm/server): a user's
// stanzas to a blocked entity are refused with not-acceptable and
// <blocked xmlns='urn:xmpp:blocking:errors'/>; stanzas from a blocked
// entity are dropped (presence) or answered with service-unavailable
// (messages, IQ requests), and are not stored in the inbox (the inbox
// write checks the list in the same Lua script).
//
// Who answers: blocking IQs from the user's own sessions, answered by sm.
// Redis keys: block:{u}; roster:{u} to find contacts for presence.
package blocking
