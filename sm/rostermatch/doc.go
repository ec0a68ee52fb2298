// Package rostermatch is Kontalk's contact discovery (namespace
// http://kontalk.org/extensions/roster), served at probe@N: a client
// sends the network JIDs of its address book (the SHA-1 of each phone
// number at N) and gets back those that are users of the network, with
// their network JID. Users who blocked the asker are left out. The whole
// network shares one directory, so the answer is local.
//
// Who answers: sm, at probe@N and for the same query with no 'to'.
// Redis keys: user:{u} (existence), block:{u}.
package rostermatch
