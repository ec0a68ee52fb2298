package coretest

import (
	"testing"

	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// IQ builds the IQ a handler gets from a raw stanza.
func IQ(t testing.TB, raw string, target core.Target, user string) *core.IQ {
	t.Helper()
	top, err := xml.ParseTop([]byte(raw), xml.Scope{Default: "jabber:client"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := core.ParseStanza(top, "jabber:client")
	if err != nil {
		t.Fatal(err)
	}
	return &core.IQ{Stanza: st, Payload: st.Payload(), Target: target, User: user}
}
