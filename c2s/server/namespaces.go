package server

// Namespaces of the client stream.
const (
	NSTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession = "urn:ietf:params:xml:ns:xmpp-session" // RFC 3921 session establishment
	NSSM      = "urn:xmpp:sm:3"                       // XEP-0198
	NSCSI     = "urn:xmpp:csi:0"                      // XEP-0352
	NSPing    = "urn:xmpp:ping"                       // XEP-0199
	NSLimits  = "urn:xmpp:stream-limits:0"            // XEP-0478
	// NSRegisterFeature is the stream feature of in-band registration
	// (XEP-0077), NSRegister its IQ namespace.
	NSRegisterFeature = "http://jabber.org/features/iq-register"
	NSRegister        = "jabber:iq:register"
)
