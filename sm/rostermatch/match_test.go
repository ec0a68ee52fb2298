package rostermatch_test

import (
	"testing"

	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/rostermatch"
)

func TestMatch(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	alice, bob, carol := coretest.User(t, env, "alice"), coretest.User(t, env, "bob"), coretest.User(t, env, "carol")
	env.Store.Blocking.Add(ctx, "carol", []string{alice})
	m := rostermatch.New(env)
	raw := "<iq type='get' id='m' from='" + alice + "/r' to='probe@" + coretest.Network + "'><query xmlns='http://kontalk.org/extensions/roster'>" +
		"<item jid='" + bob + "'/><item jid='" + carol + "'/><item jid='nobody@" + coretest.Network + "'/><item jid='bob@elsewhere.example'/></query></iq>"
	el, err := m.HandleIQ(ctx, coretest.IQ(t, raw, core.TargetService, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if got := el.String(); got != "<query xmlns='http://kontalk.org/extensions/roster'><item jid='"+bob+"'/></query>" {
		t.Fatalf("match %s", got)
	}
}
