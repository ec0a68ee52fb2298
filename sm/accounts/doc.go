// Package accounts ends accounts: an operator's deletion, the purge of
// users inactive for too long, and the replacement of an account whose
// number registers again (sm/register). Deleting a user ends the
// user's sessions (their c2s closes the streams, "the account was
// deleted"), sends the contacts the user's unavailable presence and the
// subscription cancellations RFC 6121 §2.5.2 asks for when an account
// goes away (unsubscribe and unsubscribed, stored in the contacts'
// inboxes like any subscription presence), and removes every key of
// the user. Kontalk clients then see item-not-found for the user's
// last activity and drop the contact (client-protocol §4).
//
// Who runs it: sm. The purge runs on one sm instance of the network at
// a time (the holder of lock:{purge}); an operator's deletion arrives
// as a session envelope action='delete' to u@H (kontalkctl user delete)
// and is handled by the instance that owns the user, in order with the
// user's other stanzas.
//
// Redis keys: every key of the user (user:{u}, sess:{u}, roster:{u},
// inbox:{u}, ...), lock:{purge}.
package accounts
