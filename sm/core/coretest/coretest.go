// Package coretest builds a core.Env for the feature packages' tests: a
// store on a private redis-server and a Sender that records what sm
// sends instead of sending it.
package coretest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// Names of the test network.
const (
	Network = "kontalk.test"
	Host    = "node1.kontalk.test"
)

// Sent is one thing the recorder was given.
type Sent struct {
	// Kind is "route", "deliver" or "envelope".
	Kind string
	// Session is the target of a delivery, RID its inbox id.
	Session *core.Session
	RID     string
	// Raw is the stanza (or envelope) sent.
	Raw string
}

// Recorder is a core.Sender that keeps what it is given.
type Recorder struct {
	mu   sync.Mutex
	sent []Sent
}

func (r *Recorder) add(s Sent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, s)
}

// Route records a stanza for the router; several may come at once.
func (r *Recorder) Route(_ context.Context, raw []byte) error {
	r.add(Sent{Kind: "route", Raw: string(raw)})
	return nil
}

// Deliver records a delivery to a session.
func (r *Recorder) Deliver(_ context.Context, s *core.Session, rid string, raw []byte) error {
	r.add(Sent{Kind: "deliver", Session: s, RID: rid, Raw: string(raw)})
	return nil
}

// Envelope records an envelope.
func (r *Recorder) Envelope(_ context.Context, e *envelope.Envelope) error {
	e.From = "sm-1." + Host
	r.add(Sent{Kind: "envelope", Raw: string(envelope.Append(nil, e))})
	return nil
}

// Take returns what was recorded since the last Take.
func (r *Recorder) Take() []Sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

// Find returns the recorded items of kind whose stanza contains every
// substring.
func Find(sent []Sent, kind string, substrs ...string) []Sent {
	var out []Sent
next:
	for _, s := range sent {
		if s.Kind != kind {
			continue
		}
		for _, sub := range substrs {
			if !strings.Contains(s.Raw, sub) {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// NewEnv returns an Env on a private Redis with a Recorder.
func NewEnv(t testing.TB) (*core.Env, *Recorder) {
	t.Helper()
	r := testkit.StartRedis(t, testkit.RedisOptions{})
	st, err := store.Open(store.Options{URL: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := &Recorder{}
	env := &core.Env{
		Config: core.Config{Network: Network, Host: Host, Instance: "sm-1." + Host, Started: time.Now()},
		Store:  st,
		Out:    rec,
		Log:    zap.NewNop(),
	}
	return env, rec
}

// Context returns a context for one test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// User creates the user u with a placeholder key and returns its bare
// JID.
func User(t testing.TB, env *core.Env, u string) string {
	t.Helper()
	if _, err := env.Store.Users.Create(context.Background(), u, store.User{Fingerprint: strings.ToUpper(u + "fp"), Key: []byte("key of " + u), Home: Host}); err != nil {
		t.Fatal(err)
	}
	return env.UserJID(u)
}

// Session starts an available session of u on c2s-1 and returns it.
func Session(t testing.TB, env *core.Env, u, resource string) *core.Session {
	t.Helper()
	rec := store.Session{SID: u + "-" + resource, C2S: "c2s-1." + Host, Host: Host, Since: time.Now().UnixMilli(), Avail: true, SM: true}
	if _, err := env.Store.Sessions.Start(context.Background(), u, resource, rec); err != nil {
		t.Fatal(err)
	}
	return &core.Session{User: u, Resource: resource, Session: rec}
}

// Parse parses s, a stanza as a client sends it, or fails the test.
func Parse(t testing.TB, s string) *core.Stanza {
	t.Helper()
	top, err := xml.ParseTop([]byte(s), xml.Scope{Default: stream.NSClient})
	if err != nil {
		t.Fatal(err)
	}
	st, err := core.ParseStanza(top, stream.NSClient)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
