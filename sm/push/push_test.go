package push_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	pkgpush "github.com/kontalk/xmppd/pkg/push"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/push"
)

// recorder is a push provider that keeps the tokens it was asked to
// wake up; "gone" is a token the provider no longer knows.
type recorder struct {
	mu     sync.Mutex
	tokens []string
}

func (r *recorder) Name() string { return "gcm" }

func (r *recorder) Notify(_ context.Context, token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, token)
	if token == "gone" {
		return fmt.Errorf("test: %w", pkgpush.ErrUnregistered)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tokens)
}

func message(t *testing.T, raw string) *core.Stanza {
	t.Helper()
	return coretest.IQ(t, raw, 0, "").Stanza
}

func TestPush(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	coretest.User(t, env, "bob")
	rec := &recorder{}
	p := push.New(env, push.Options{Providers: []pkgpush.Provider{rec}, SenderID: "42", IdleAfter: time.Minute, Every: time.Nanosecond, Workers: 1})
	if items := p.Items(coretest.Network); len(items) != 1 || items[0].String() != "<item jid='gcm.push."+coretest.Network+"' node='42' name='Google Cloud Messaging push notifications'/>" {
		t.Fatalf("items %v", items)
	}
	sess := coretest.Session(t, env, "bob", "phone")
	reg := coretest.IQ(t, "<iq type='set' id='p'><register xmlns='"+push.NS+"' provider='gcm'>tok</register></iq>", core.TargetService, "bob")
	if _, err := p.HandleIQ(ctx, reg); err == nil {
		t.Fatal("registration without a session accepted")
	}
	reg.Session = sess
	if _, err := p.HandleIQ(ctx, reg); err != nil {
		t.Fatal(err)
	}
	other := coretest.IQ(t, "<iq type='set' id='p'><register xmlns='"+push.NS+"' provider='apns'>tok</register></iq>", core.TargetService, "bob")
	other.Session = sess
	if _, err := p.HandleIQ(ctx, other); err == nil {
		t.Fatal("unknown provider accepted")
	}

	chat := message(t, "<message type='chat' to='bob@"+coretest.Network+"' from='alice@"+coretest.Network+"/r' id='m'><body>hi</body></message>")
	state := message(t, "<message type='chat' to='bob@"+coretest.Network+"' from='alice@"+coretest.Network+"/r'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	receipt := message(t, "<message type='chat' to='bob@"+coretest.Network+"' id='r'><request xmlns='urn:xmpp:receipts'/></message>")
	if !push.Wakes(chat) || push.Wakes(state) || !push.Wakes(receipt) {
		t.Fatal("Wakes")
	}

	base := goleak.IgnoreCurrent()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	defer func() { stop(); <-done; goleak.VerifyNone(t, base) }()

	online := map[string]store.Session{"phone": {SID: sess.SID, Avail: true}}
	// Bob is online and active: no wake-up. Then he has no session.
	p.Message("bob", online, chat)
	p.Message("bob", nil, state)
	p.Message("bob", nil, chat)
	testkit.Eventually(t, 5*time.Second, "a wake-up", func() bool { return rec.count() == 1 })
	// Inactive for longer than IdleAfter counts as away.
	if err := env.Store.Push.SetIdle(ctx, "bob", sess.SID, time.Now().Add(-2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	p.Message("bob", online, chat)
	testkit.Eventually(t, 5*time.Second, "a wake-up of an idle session", func() bool { return rec.count() == 2 })
	// A token the provider no longer knows is dropped.
	env.Store.Push.Register(ctx, "bob", "gcm", "gone")
	p.Message("bob", nil, chat)
	testkit.Eventually(t, 5*time.Second, "the invalid token dropped", func() bool {
		m, _ := env.Store.Push.Tokens(ctx, "bob")
		return len(m) == 0
	})
	if rec.count() != 3 {
		t.Fatalf("wake-ups %v", rec.tokens)
	}
}
