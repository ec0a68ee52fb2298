package push

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/push"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// NS is Kontalk's push namespace: the disco feature, the disco node and
// the registration elements.
const NS = "http://kontalk.org/extensions/presence#push"

// maxToken bounds a registration token (FCM's are about 160 bytes).
const maxToken = 4096

// Options configure the feature. Zero values take the defaults.
type Options struct {
	// Providers deliver the wake-ups, by the provider name clients
	// register with ("gcm"). None disables the feature.
	Providers []push.Provider
	// SenderID is the FCM sender ID clients register with, given as the
	// disco item's node.
	SenderID string
	// IdleAfter: a session inactive for longer does not count as online
	// (default 30s).
	IdleAfter time.Duration
	// Queue bounds the wake-ups waiting for a worker (default 1024);
	// beyond it they are dropped (the phone gets the next one).
	Queue int
	// Workers send wake-ups in parallel (default 4).
	Workers int
	// Every is the least time between two wake-ups of one user from this
	// instance (default 5s): a burst of messages wakes the phone once.
	Every time.Duration
}

// Push is the push notification feature.
type Push struct {
	env       *core.Env
	opts      Options
	providers map[string]push.Provider
	jobs      chan job

	mu     sync.Mutex
	recent map[string]time.Time // user → last wake-up

	// OnSent observes each wake-up by its result: sent, failed,
	// unregistered, dropped (metrics).
	OnSent func(result string)
}

type job struct {
	u string
	// online are the sids of the user's available sessions when the
	// message arrived.
	online []string
	at     time.Time
}

// New returns the feature.
func New(env *core.Env, opts Options) *Push {
	if opts.IdleAfter <= 0 {
		opts.IdleAfter = 30 * time.Second
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Every <= 0 {
		opts.Every = 5 * time.Second
	}
	p := &Push{env: env, opts: opts, providers: map[string]push.Provider{}, jobs: make(chan job, opts.Queue), recent: map[string]time.Time{}}
	for _, pr := range opts.Providers {
		p.providers[pr.Name()] = pr
	}
	return p
}

// Enabled reports whether a provider is configured.
func (p *Push) Enabled() bool { return len(p.providers) > 0 }

// Items are the disco#items of the domain on the push node.
func (p *Push) Items(network string) []*xml.Element {
	var out []*xml.Element
	for name := range p.providers {
		if name == "gcm" {
			out = append(out, xml.New("item", "",
				xml.Attr{Name: "jid", Value: "gcm.push." + network},
				xml.Attr{Name: "node", Value: p.opts.SenderID},
				xml.Attr{Name: "name", Value: "Google Cloud Messaging push notifications"}))
		}
	}
	return out
}

// HandleIQ answers registrations at push@N.
func (p *Push) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Session == nil {
		return nil, stanza.Errorf(stanza.Forbidden, "push registration is for the network's users")
	}
	if iq.Type != "set" {
		return nil, stanza.Errorf(stanza.BadRequest, "push registration is a set")
	}
	name := iq.Payload.Attr("provider")
	if _, ok := p.providers[name]; !ok {
		return nil, stanza.Errorf(stanza.ItemNotFound, "no push provider %q here", name)
	}
	switch iq.Payload.Local() {
	case "register":
		token := strings.TrimSpace(iq.Payload.Text())
		if token == "" || len(token) > maxToken {
			return nil, stanza.Errorf(stanza.BadRequest, "no registration token")
		}
		return nil, p.env.Store.Push.Register(ctx, iq.User, name, token)
	case "unregister":
		return nil, p.env.Store.Push.Unregister(ctx, iq.User, name)
	}
	return nil, stanza.Errorf(stanza.BadRequest, "register or unregister")
}

// State records a session's client state (XEP-0352), which the trigger
// reads.
func (p *Push) State(ctx context.Context, u, sid string, inactive bool) error {
	since := time.Time{}
	if inactive {
		since = time.Now()
	}
	return p.env.Store.Push.SetIdle(ctx, u, sid, since)
}

// Wakes reports whether a message wakes its recipient up: type chat with
// a body or a receipt request (client-protocol §5.3 step 4).
func Wakes(st *core.Stanza) bool {
	if st.Name != "message" || st.Type != "chat" {
		return false
	}
	if st.Child("body") != nil {
		return true
	}
	return st.El.Child("request", "urn:xmpp:receipts") != nil
}

// Message is called for a message delivered (or stored) for the user u,
// whose sessions were as given: a message that wakes users up queues a
// wake-up, decided and sent by a worker. It never blocks.
func (p *Push) Message(u string, sessions map[string]store.Session, st *core.Stanza) {
	if !p.Enabled() || !Wakes(st) {
		return
	}
	j := job{u: u, at: time.Now()}
	for _, rec := range sessions {
		if rec.Avail {
			j.online = append(j.online, rec.SID)
		}
	}
	select {
	case p.jobs <- j:
	default:
		p.sent("dropped")
	}
}

func (p *Push) sent(result string) {
	if p.OnSent != nil {
		p.OnSent(result)
	}
}

// Run serves the queue until ctx ends; wake-ups still queued then are
// dropped.
func (p *Push) Run(ctx context.Context) {
	if !p.Enabled() {
		return
	}
	var wg sync.WaitGroup
	for range p.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-p.jobs:
					p.wake(ctx, j)
				}
			}
		})
	}
	wg.Wait()
}

// wake sends the user's tokens a wake-up unless one of the sessions
// that were online is active, or the user was woken up just now.
func (p *Push) wake(ctx context.Context, j job) {
	b := p.env.Store.Batch()
	f := b.PushTarget(j.u)
	if err := b.Exec(ctx); err != nil {
		p.env.Log.Warn("push: cannot read the user's registrations", zap.String("user", j.u), zap.Error(err))
		p.sent("failed")
		return
	}
	t, err := f.Get()
	if err != nil || len(t.Tokens) == 0 {
		return
	}
	for _, sid := range j.online {
		since, idle := t.Idle[sid]
		if !idle || j.at.Sub(since) < p.opts.IdleAfter {
			return // someone is there to read it
		}
	}
	if !p.due(j.u, j.at) {
		return
	}
	for name, token := range t.Tokens {
		pr, ok := p.providers[name]
		if !ok {
			continue
		}
		err := pr.Notify(ctx, token)
		switch {
		case err == nil:
			p.sent("sent")
		case errors.Is(err, push.ErrUnregistered):
			p.sent("unregistered")
			if err := p.env.Store.Push.Unregister(ctx, j.u, name); err != nil {
				p.env.Log.Warn("push: cannot drop an invalid registration", zap.String("user", j.u), zap.Error(err))
			}
		default:
			p.sent("failed")
			p.env.Log.Warn("push: wake-up failed", zap.String("user", j.u), zap.String("provider", name), zap.Error(err))
		}
	}
}

// maxRecent bounds the users remembered for Every.
const maxRecent = 100000

// due reports whether the user may be woken up now, and records it.
func (p *Push) due(u string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if last, ok := p.recent[u]; ok && now.Sub(last) < p.opts.Every {
		return false
	}
	if len(p.recent) >= maxRecent {
		for k, t := range p.recent {
			if now.Sub(t) >= p.opts.Every {
				delete(p.recent, k)
			}
		}
		if len(p.recent) >= maxRecent {
			clear(p.recent)
		}
	}
	p.recent[u] = now
	return true
}
