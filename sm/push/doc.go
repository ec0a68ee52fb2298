// Package push wakes up the phones of users who are not online, so they
// reconnect and fetch their messages (client-protocol §5.3, Kontalk's
// namespace http://kontalk.org/extensions/presence#push).
//
//   - Discovery: the domain's disco#info lists the feature; its
//     disco#items on that node list one item per provider,
//     jid='gcm.push.N' with node = the FCM sender ID (Android matches the
//     jid exactly).
//   - Registration: <register provider='gcm'>TOKEN</register> and
//     <unregister provider='gcm'/> in IQ sets to push@N store and remove
//     the user's token.
//   - Trigger: a chat message with a body or a receipt request, arriving
//     for a user none of whose sessions is available and active (a
//     session whose client said <inactive/> (XEP-0352) more than 30 s ago
//     does not count), sends the user's tokens a wake-up through the
//     provider (pkg/push: FCM HTTP v1), from a bounded queue served by
//     the feature's own workers, so the user's stanzas never wait for
//     the provider.
//
// Who answers: sm, at push@N. Redis keys: push:{u} (provider → token),
// idle:{u} (sid → since when the session is inactive).
package push
