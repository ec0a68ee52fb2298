// Package resolve is the resolver process: bound to the network domain N
// (with multi, so several instances share the load by destination), it
// re-addresses every stanza for user@N[/resource] to the host that
// serves the user, user@H[/resource], from the Redis directory: the
// host of the user's session (the one named by a full JID, or for a bare
// JID preferably one on this host), ignoring sessions of hosts whose
// lease expired, else the user's home host. Stanzas for N itself and for
// the service JIDs (probe@N, network@N, push@N, multicast@N) go to this
// host's sm. A user that does not exist gets item-not-found (never in
// answer to an error).
//
// Only the 'to' attribute is rewritten, in the raw bytes
// (xml.Top.AppendWithAttr): payloads are forwarded as they came.
// Stanzas are handled by a fixed set of workers chosen by the bare 'to'
// (a user's stanzas stay in order); each worker takes what is queued, up
// to a batch, and looks every address of the batch up in one Redis round
// trip. The set of live hosts is read at most once a second; nothing
// else is cached, so a session that starts or ends is seen at once.
package resolve
