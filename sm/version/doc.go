// Package version answers XEP-0092 software version (jabber:iq:version)
// for the domain, and XEP-0199 pings (urn:xmpp:ping) to the domain, the
// service JIDs and users' bare JIDs: Kontalk clients ping their server
// after binding, and treat no answer as a dead connection.
//
// Who answers: sm. Redis keys: none.
package version
