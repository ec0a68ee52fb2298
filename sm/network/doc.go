// Package network answers network@N: the serverlist ad-hoc command
// (XEP-0050, node serverlist, client-protocol §5.5), which lists the
// hosts of the network with their server key fingerprints in
// <serverlist xmlns='http://kontalk.org/extensions/serverlist'>.
//
// Each item's node is "N|H": Kontalk's Android client reads it as an
// endpoint "network|host", so it keeps the network domain N for its JID
// and connects to the host H (with H alone it would take H for its
// network). The fingerprint is the host's server key.
//
// Who answers: sm, at network@N. Redis keys: hosts.
package network
