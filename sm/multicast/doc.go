// Package multicast is XEP-0033 extended stanza addressing for messages:
// a message with <addresses xmlns='http://jabber.org/protocol/address'>
// sent to multicast@N (Kontalk's Android client, for group messages) or
// to the domain N itself (the desktop client, after finding the feature
// in disco) is sent on as one copy per address of type to, cc or bcc,
// with the <addresses> element removed (as Kontalk's server did: the
// group payload names the members). Each copy is handled like a message
// the user sent to that address: stored in the recipient's inbox and
// routed, refused for a contact the user blocked.
//
// Who answers: sm, for the user's own messages. Redis keys: block:{u}
// and the recipients' inboxes.
package multicast
