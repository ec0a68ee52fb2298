package server

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// discard is a core.Sender that drops everything.
type discard struct{}

func (discard) Route(context.Context, []byte) error                          { return nil }
func (discard) Deliver(context.Context, *core.Session, string, []byte) error { return nil }
func (discard) Envelope(context.Context, *envelope.Envelope) error           { return nil }

// BenchmarkMessage measures sm's work for one chat message, both ends:
// the sender's envelope (load, inbox write, route), the recipient's
// stanza from the router (load, delivery) and the client's ack, against
// a real Redis. The router hops are not included.
func BenchmarkMessage(b *testing.B) {
	r := testkit.StartRedis(b, testkit.RedisOptions{})
	o := validOptions()
	o.Redis.URL = r.URL()
	o.Redis.InboxMax = 1 << 30
	srv, err := New(o, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.store.Close()
	srv.env.Out = discard{}
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		srv.store.Users.Create(ctx, u, store.User{Home: o.Host})
		srv.store.Sessions.Start(ctx, u, "phone", store.Session{SID: u, C2S: "c2s-1." + o.Host, Host: o.Host, Avail: true, SM: true})
	}
	sh := newShard(16)
	body := "<body>hello</body><request xmlns='urn:xmpp:receipts'/><e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>QUJDRA==</e2e>"
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprint(i)
		msg := "<message from='alice@" + o.Network + "/phone' to='bob@" + o.Network + "' id='" + id + "' type='chat'>" + body + "</message>"
		top, _ := xml.ParseTop([]byte(msg), xml.Scope{Default: "jabber:client"})
		out := envelope.Append(nil, &envelope.Envelope{From: "c2s-1." + o.Host, To: "alice@" + o.Host, SID: "alice", Seq: uint64(i + 1), Stanza: top})
		srv.process(ctx, sh, out)
		srv.flush(ctx, sh)
		in := "<message from='alice@" + o.Network + "/phone' to='bob@" + o.Host + "' id='" + id + "' type='chat'>" + body + "</message>"
		srv.process(ctx, sh, []byte(in))
		ack := envelope.Append(nil, &envelope.Envelope{From: "c2s-1." + o.Host, To: "bob@" + o.Host, SID: "bob", Action: envelope.ActionAck, RIDs: []string{store.RID("alice@"+o.Network, id)}})
		srv.process(ctx, sh, ack)
	}
	b.StopTimer()
	if n, _ := srv.store.Inbox.Len(ctx, "bob"); n != 0 {
		b.Fatalf("%d messages left in the inbox", n)
	}
}
