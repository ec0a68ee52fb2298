// Package server is the s2s process: server-to-server links of one
// Kontalk host, both to the other hosts of its network and to the public
// XMPP federation (RFC 6120 §13, XEP-0220, XEP-0185, XEP-0178, XEP-0368).
//
// It is a trusted component of the local router (docs/router-protocol.md):
// it binds its own name with the default route, so every stanza for a
// domain nobody bound locally reaches it, and it learns from route
// presence which names this host serves. Stanzas for another host of the
// network (listed in the Redis directory, docs/data.md) travel over a link
// authenticated by the hosts' OpenPGP server keys; stanzas for any other
// domain leave through a federated link authenticated by SASL EXTERNAL
// when certificates allow it, else by Server Dialback with keys derived
// from a secret all hosts of the network share.
//
// Concerns are split by file: in.go is the inbound stream state machine,
// out.go the outbound links, resolve.go where a domain's server is found
// (static overrides, the directory, DNS SRV), dialback.go and sasl.go the
// two authentication protocols, tls.go certificates and trust,
// routing.go which domain goes where and which 'from' a peer may use,
// directory.go the network's hosts and leases, ratelimit.go the inbound
// token bucket. Stanzas are forwarded as the bytes that arrived (pkg/xml
// Top); only start-tag attributes are ever rewritten.
package server
