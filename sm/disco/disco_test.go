package disco_test

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/disco"
)

func TestDisco(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	d := disco.New(env, disco.Options{Components: func() []string { return []string{"media." + coretest.Network} }})
	ask := func(ns string, target core.Target, node string) string {
		t.Helper()
		raw := "<iq type='get' id='d'><query xmlns='" + ns + "'" + node + "/></iq>"
		el, err := d.HandleIQ(ctx, coretest.IQ(t, raw, target, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		return el.String()
	}
	info := ask(disco.NSInfo, core.TargetDomain, "")
	for _, f := range []string{"category='server'", "var='urn:xmpp:blocking'", "var='jabber:iq:last'", "var='urn:xmpp:pubkey:2'"} {
		if !strings.Contains(info, f) {
			t.Errorf("domain info lacks %s: %s", f, info)
		}
	}
	items := ask(disco.NSItems, core.TargetDomain, "")
	if !strings.Contains(items, "jid='probe@"+coretest.Network+"'") || !strings.Contains(items, "jid='media."+coretest.Network+"'") {
		t.Fatalf("items %s", items)
	}
	if got := ask(disco.NSInfo, core.TargetUser, ""); !strings.Contains(got, "category='account'") {
		t.Fatalf("account info %s", got)
	}
	if got := ask(disco.NSItems, core.TargetDomain, " node='http://kontalk.org/extensions/presence#push'"); strings.Contains(got, "<item") {
		t.Fatalf("push node items %s", got)
	}
	push := xml.New("item", "", xml.Attr{Name: "jid", Value: "gcm.push." + coretest.Network}, xml.Attr{Name: "node", Value: "123"})
	d = disco.New(env, disco.Options{
		Features: []string{"http://kontalk.org/extensions/presence#push"},
		Services: map[string][]string{core.ServiceMulticast: {"http://jabber.org/protocol/address"}},
		Nodes:    map[string][]*xml.Element{"http://kontalk.org/extensions/presence#push": {push}},
	})
	if got := ask(disco.NSInfo, core.TargetDomain, ""); !strings.Contains(got, "var='http://kontalk.org/extensions/presence#push'") {
		t.Errorf("domain info lacks push: %s", got)
	}
	if got := ask(disco.NSItems, core.TargetDomain, " node='http://kontalk.org/extensions/presence#push'"); !strings.Contains(got, "<item jid='gcm.push."+coretest.Network+"' node='123'/>") {
		t.Errorf("push node items %s", got)
	}
	if got := ask(disco.NSItems, core.TargetDomain, ""); !strings.Contains(got, "jid='multicast@"+coretest.Network+"'") {
		t.Errorf("items lack multicast: %s", got)
	}
	iq := coretest.IQ(t, "<iq type='get' id='d' to='multicast@"+coretest.Network+"'><query xmlns='"+disco.NSInfo+"'/></iq>", core.TargetService, "alice")
	iq.Service = core.ServiceMulticast
	if el, err := d.HandleIQ(ctx, iq); err != nil || !strings.Contains(el.String(), "http://jabber.org/protocol/address") {
		t.Errorf("multicast info %v %v", el, err)
	}
}
