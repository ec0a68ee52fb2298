// Package inbox is the durable message queue of sm (ARCHITECTURE.md §5,
// docs/data.md "The inbox"): a stanza for a user of the network is
// written into the recipient's inbox before the sender's stanza is
// confirmed, delivered with its rid, and removed when the recipient's
// client acknowledges it. What is stored follows Kontalk's offline
// storage (client protocol §5.8): messages of type normal or chat to a
// bare JID carrying a body, a receipt request or receipt (XEP-0184,
// urn:xmpp:receipts) or a signature (jabber:x:signed), and subscription
// presences. Stored stanzas delivered at a later session, or again by
// the redelivery sweep, carry a urn:xmpp:delay stamp (XEP-0203).
//
// Redis keys: inbox:{u}, inboxmsg:{u} (written by one Lua script with
// user:{u} and block:{u}), through pkg/store.
package inbox
