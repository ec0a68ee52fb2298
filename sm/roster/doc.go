// Package roster keeps users' rosters and presence subscriptions (RFC
// 6121 §2 and §3, namespace jabber:iq:roster, with roster versioning
// and subscription pre-approval).
//
// Kontalk clients never send roster sets: the server creates and updates
// items from subscription presences, on both sides. An outbound
// subscribe from a user of the network gets the user's public key and
// fingerprint attached (<pubkey xmlns='urn:xmpp:pubkey:2'><key/><print/>)
// so the contact's client can show and check who asks. Inbound
// subscription presences change the recipient's roster when they
// arrive, and again (the transitions are idempotent) when a stored copy
// is delivered from the inbox, so a copy lost in flight still takes
// effect.
//
// Who answers: roster gets and sets from the user's own sessions are
// answered here (the reply is sent by sm); roster pushes go to every
// session of the user. Redis keys: roster:{u}, rosterver:{u}, and
// user:{u} for the key attached to a subscribe.
package roster
