// Package lastactivity implements XEP-0012 last activity (namespace
// jabber:iq:last) as Kontalk clients use it: to the domain it gives the
// server's uptime; to a contact's bare JID, the seconds since the
// contact's last logout (0 while a session is available), only when the
// contact lets the asker see its presence (subscription from or both;
// otherwise forbidden). An unknown user gets item-not-found, which
// clients read as "account deleted"; the resolver answers that before
// the IQ reaches sm. IQs to a full JID go to the client.
//
// Who answers: sm, for the domain and for users' bare JIDs. Redis keys:
// user:{u} (seen, status), sess:{u}, roster:{u}.
package lastactivity
