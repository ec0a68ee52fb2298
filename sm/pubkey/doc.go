// Package pubkey answers Kontalk's public key requests (namespace
// urn:xmpp:pubkey:2, in the style of XEP-0189): to the network domain,
// or with no 'to' at all, the server's public key ring (clients store it
// as trusted); to the asker's own bare JID, the user's server-certified
// key ring (clients rebuild their bridge certificate from it); to a
// contact's bare JID, the contact's key, without a subscription check,
// as Kontalk's server does. The reply carries the binary ring in base64.
//
// Who answers: sm. Redis keys: user:{u} (key).
package pubkey
