package lastactivity_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/lastactivity"
)

func TestLastActivity(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	env.Started = time.Now().Add(-90 * time.Second)
	l := lastactivity.New(env)
	alice, bob := coretest.User(t, env, "alice"), coretest.User(t, env, "bob")
	env.Store.Rosters.Put(ctx, "bob", alice, store.Item{Sub: store.SubFrom})
	q := func(from, to string, target core.Target, u string) (string, error) {
		el, err := l.HandleIQ(ctx, coretest.IQ(t, "<iq type='get' id='1' from='"+from+"' to='"+to+"'><query xmlns='jabber:iq:last'/></iq>", target, u))
		if err != nil {
			return "", err
		}
		return el.String(), nil
	}
	if got, _ := q(alice+"/r", coretest.Network, core.TargetDomain, ""); !strings.Contains(got, "seconds='9") {
		t.Fatalf("uptime %s", got)
	}
	s := coretest.Session(t, env, "bob", "phone")
	if got, _ := q(alice+"/r", bob, core.TargetUser, "bob"); !strings.Contains(got, "seconds='0'") {
		t.Fatalf("online contact %s", got)
	}
	env.Store.Users.SetStatus(ctx, "bob", "away")
	env.Store.Sessions.End(ctx, "bob", s.SID, time.Now().Add(-time.Hour))
	if got, _ := q(alice+"/r", bob, core.TargetUser, "bob"); !strings.Contains(got, "seconds='3") || !strings.Contains(got, ">away<") {
		t.Fatalf("offline contact %s", got)
	}
	var se *stanza.Error
	if _, err := q("carol@"+coretest.Network+"/r", bob, core.TargetUser, "bob"); !errors.As(err, &se) || se.Condition != stanza.Forbidden {
		t.Fatalf("not subscribed: %v", err)
	}
	if _, err := q(alice+"/r", "nobody@"+coretest.Network, core.TargetUser, "nobody"); !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Fatalf("unknown user: %v", err)
	}
}
