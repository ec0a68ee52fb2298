// Package xmppclient is a small XMPP client (RFC 6120) for the server's
// tests and load tools. It connects with STARTTLS (port 5222) or direct
// TLS (XEP-0368, port 5223), presents a TLS client certificate (a Kontalk
// bridge certificate, see pkg/bridge), authenticates with SASL EXTERNAL
// (RFC 6120 §6, XEP-0178), binds a resource, enables stream management
// (XEP-0198, with resumption), and sends and receives raw stanzas.
//
// A Client is synchronous: the caller reads the stream with Next, which
// answers the server's XEP-0198 requests by itself, so no goroutine runs
// per client and an idle client holds no read buffer. That keeps tens of
// thousands of clients cheap in one load program.
//
// The sub-package clienttest builds Kontalk identities (an OpenPGP key
// certified by a test server key, wrapped in a bridge certificate the way
// the Android and desktop clients build it) for tests across the project.
package xmppclient
