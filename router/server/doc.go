// Package server is the router: it accepts Jabber components (XEP-0114)
// and routes stanzas between them by the domain of their 'to' address.
// It knows nothing of users. On top of plain XEP-0114 it implements the
// router extension of docs/router-protocol.md: extra names bound per
// connection, names shared by several connections (multi, picked by a
// stable hash of the bare 'to'), the default route, and route presence
// so components learn when others come and go.
//
// Routing reads only the attributes of each stanza's start tag and
// forwards the bytes as they came (pkg/xml.Top), so payloads are never
// re-serialized. Each connection has one goroutine reading and one
// writing a bounded queue; a connection that cannot keep up makes its
// senders wait a little, then is disconnected (a slow consumer).
package server
