package network_test

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/network"
)

func TestServerlist(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	env.Store.Hosts.Register(ctx, "b."+coretest.Network, store.Host{Fingerprint: "FPB", Enabled: true})
	env.Store.Hosts.Register(ctx, "a."+coretest.Network, store.Host{Fingerprint: "FPA", Enabled: true})
	env.Store.Hosts.Register(ctx, "off."+coretest.Network, store.Host{Fingerprint: "FPX"})
	n := network.New(env)
	iq := coretest.IQ(t, "<iq type='set' id='s'><command xmlns='http://jabber.org/protocol/commands' node='serverlist' action='execute'/></iq>", core.TargetService, "alice")
	el, err := n.HandleIQ(ctx, iq)
	if err != nil {
		t.Fatal(err)
	}
	got := el.String()
	want := "<serverlist xmlns='http://kontalk.org/extensions/serverlist'><item node='" + coretest.Network + "|a." + coretest.Network + "' fingerprint='FPA'/>" +
		"<item node='" + coretest.Network + "|b." + coretest.Network + "' fingerprint='FPB'/></serverlist>"
	if !strings.Contains(got, want) || !strings.Contains(got, "status='completed'") || !strings.Contains(got, "node='serverlist'") {
		t.Fatalf("serverlist %s", got)
	}
	for _, bad := range []string{
		"<iq type='get' id='s'><command xmlns='http://jabber.org/protocol/commands' node='serverlist'/></iq>",
		"<iq type='set' id='s'><command xmlns='http://jabber.org/protocol/commands' node='other'/></iq>",
		"<iq type='set' id='s'><command xmlns='http://jabber.org/protocol/commands' node='serverlist' action='cancel'/></iq>",
	} {
		if _, err := n.HandleIQ(ctx, coretest.IQ(t, bad, core.TargetService, "alice")); err == nil {
			t.Errorf("%s answered", bad)
		}
	}
}
