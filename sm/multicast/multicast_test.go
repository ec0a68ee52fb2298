package multicast_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/multicast"
)

func TestMulticast(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	alice, bob, carol, dave := coretest.User(t, env, "alice"), coretest.User(t, env, "bob"), coretest.User(t, env, "carol"), coretest.User(t, env, "dave")
	env.Store.Blocking.Add(ctx, "alice", []string{dave})
	sess := coretest.Session(t, env, "alice", "phone")
	var copies []string
	m := multicast.New(env, func(_ context.Context, s *core.Session, st *core.Stanza) error {
		if s != sess {
			t.Errorf("copy for session %v", s)
		}
		copies = append(copies, string(st.Top.Raw))
		return nil
	})
	raw := "<message from='" + alice + "/phone' to='multicast@" + coretest.Network + "' id='g1' type='chat'><body>hi all</body>" +
		"<addresses xmlns='http://jabber.org/protocol/address'><address type='to' jid='" + bob + "'/><address type='cc' jid='" + carol + "'/>" +
		"<address type='bcc' jid='" + dave + "'/><address type='to' jid='" + bob + "'/><address type='replyto' jid='" + alice + "'/>" +
		"<address type='to' jid='x@y' delivered='true'/></addresses><x xmlns='urn:example'>kept</x></message>"
	st := coretest.IQ(t, raw, 0, "alice").Stanza
	if !multicast.Addressed(st) {
		t.Fatal("not addressed")
	}
	if err := m.Send(ctx, sess, st); err != nil {
		t.Fatal(err)
	}
	if len(copies) != 2 {
		t.Fatalf("copies %v", copies)
	}
	for i, to := range []string{bob, carol} {
		c := copies[i]
		if !strings.Contains(c, "to='"+to+"'") || strings.Contains(c, "addresses") || !strings.Contains(c, "<x xmlns='urn:example'>kept</x>") || !strings.Contains(c, "id='g1'") {
			t.Errorf("copy %d: %s", i, c)
		}
	}

	for _, bad := range []string{
		"<addresses xmlns='http://jabber.org/protocol/address'/>",
		"<addresses xmlns='http://jabber.org/protocol/address'><address type='to' jid='@@'/></addresses>",
		"<addresses xmlns='http://jabber.org/protocol/address'>" + strings.Repeat("<address type='to' jid='u@n'/>", 2) + many(multicast.MaxAddresses+1) + "</addresses>",
	} {
		st := coretest.IQ(t, "<message from='"+alice+"/phone' to='"+coretest.Network+"' id='b'>"+bad+"</message>", 0, "alice").Stanza
		var se *stanza.Error
		if err := m.Send(ctx, sess, st); !errors.As(err, &se) {
			t.Errorf("%.80s: %v", bad, err)
		}
	}
}

func many(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("<address type='to' jid='u" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@n'/>")
	}
	return b.String()
}
