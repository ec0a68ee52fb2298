// Package register is in-band registration for Kontalk (XEP-0077 with
// XEP-0004 data forms, client-protocol §1): a user proves they own a
// phone number and the server certifies their OpenPGP key with the
// network's server key.
//
// Before authentication (c2s forwards jabber:iq:register IQs of
// unauthenticated connections in register envelopes,
// docs/session-protocol.md §6):
//
//   - a get returns the instructions form (FORM_TYPE jabber:iq:register:
//     phone, force, fallback, challenge, and accept-terms with terms when
//     the operator set a terms URL);
//   - a set with phone normalizes it to E.164 (libphonenumber), refuses a
//     number that has an account unless force is set (conflict), throttles
//     per number and per address, and starts a verification (pin,
//     missedcall or callerid) with a verify.Provider; the answer carries
//     the from field clients require;
//   - a set with code (FORM_TYPE http://kontalk.org/protocol/register#code)
//     takes the key from the bridge certificate the connection presented,
//     or from a publickey field (older clients), checks the code against
//     the pending verification of the key's user, certifies the key and
//     returns it in publickey; an account the number had is replaced (its
//     contacts are told, see sm/accounts);
//   - a get with <account xmlns='http://kontalk.org/protocol/register#account'>
//     and a token returns a private key stored for transfer, once.
//
// On an authenticated session (IQs to the domain or the user's own JID):
//
//   - FORM_TYPE http://kontalk.org/protocol/register#key (publickey,
//     revoked): key rollover; the old key, revoked, must be the stored one;
//   - FORM_TYPE http://kontalk.org/protocol/register#privatekey
//     (privatekey): stores an encrypted private key and returns a
//     single-use token that expires.
//
// Who answers: sm (the instance the router picks for H for envelopes;
// the user's own instance for session IQs).
//
// Redis keys: reg:{u} (pending verification, TTL), throttle:{phone:u}
// and throttle:{addr:IP} and throttle:{token:IP} (counters, TTL),
// privkey:{sha256(token)} (TTL), user:{u}.
package register
