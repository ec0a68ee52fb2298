// Package presence broadcasts users' presence (RFC 6121 §4): a
// session's available presence goes to the contacts subscribed to the
// user (subscription from or both) and to the user's own sessions; the
// first one also probes the contacts the user is subscribed to and
// delivers the stored inbox. Probes are answered from the stored
// presences of available sessions, or with an unavailable presence
// stamped with the last logout (urn:xmpp:delay, XEP-0203), which Kontalk
// clients show as "last seen". Every presence a user broadcasts carries
// <pubkey xmlns='urn:xmpp:pubkey:2'><print>FINGERPRINT</print></pubkey>,
// from which clients notice a changed key.
//
// Redis keys: sess:{u} (availability and priority), pres:{u} (the last
// available presence of each resource), roster:{u} and block:{u} (who
// receives it), user:{u} (fingerprint, last seen, status).
package presence
