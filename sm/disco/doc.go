// Package disco answers XEP-0030 service discovery for the network
// domain and the accounts of its users (namespaces
// http://jabber.org/protocol/disco#info and #items). The domain's info
// lists the features Kontalk clients look for (blocking, last activity,
// ping, version, public keys, roster match); its items are the service
// JIDs sm serves (probe@N) and the components of the network that are
// connected now (the upload service, media.N by default), which clients
// query in turn for urn:xmpp:http:upload.
//
// Who answers: sm, for the domain, the service JIDs and users' bare
// JIDs. Redis keys: none.
package disco
