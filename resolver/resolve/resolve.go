package resolve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Options configure a Resolver. Zero values take the defaults below.
type Options struct {
	// Name is this instance's component name (resolver-1.H).
	Name string
	// Host is this host H; Network the network domain N it binds.
	Host, Network string
	// Router is the router's address, Secret the components' secret.
	Router, Secret string
	// Redis configures the directory.
	Redis store.Options
	// Workers (default 8) each take up to Batch stanzas (default 64)
	// from a queue of QueueLen (default 1024) and resolve them in one
	// round trip.
	Workers, Batch, QueueLen int
	// HostsEvery is how often the set of live hosts is read (default 1s).
	HostsEvery time.Duration
	// RetryFor bounds how long a batch waits for Redis to come back
	// (default 10s); then its stanzas are dropped (messages are in the
	// recipients' inboxes already) and IQ requests answered with an
	// error.
	RetryFor time.Duration
	// ShutdownTimeout bounds the drain on shutdown (default 5s).
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 1024
	}
	if o.HostsEvery <= 0 {
		o.HostsEvery = time.Second
	}
	if o.RetryFor <= 0 {
		o.RetryFor = 10 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	o.Redis.Namespace = "resolver"
}

func (o *Options) validate() error {
	var errs []error
	for _, d := range []struct{ flag, v string }{{"host", o.Host}, {"network", o.Network}, {"name", o.Name}} {
		if d.v == "" {
			errs = append(errs, fmt.Errorf("resolver: -%s is required", d.flag))
		} else if _, ok := jid.AppendDomain(nil, []byte(d.v)); !ok || strings.ContainsAny(d.v, "@/") {
			errs = append(errs, fmt.Errorf("resolver: -%s %q is not a domain", d.flag, d.v))
		}
	}
	if o.Host != "" && o.Host == o.Network {
		errs = append(errs, errors.New("resolver: -host and -network must differ"))
	}
	if o.Router == "" {
		errs = append(errs, errors.New("resolver: -router is required"))
	}
	if o.Secret == "" {
		errs = append(errs, errors.New("resolver: no secret: set -secret (KONTALK_SECRET)"))
	}
	return errors.Join(errs...)
}

// isService reports whether local names a service JID, which the local
// sm serves.
func isService(local string) bool {
	switch local {
	case "probe", "network", "push", "multicast":
		return true
	}
	return false
}

// Resolver is one resolver instance.
type Resolver struct {
	opts    Options
	log     *zap.Logger
	store   *store.Store
	client  *component.Client
	send    func(ctx context.Context, raw []byte) error
	metrics *metrics
	live    liveHosts

	queues   []chan []byte
	stopping chan struct{}
	stopOnce sync.Once
}

// New validates opts and builds the resolver; it does no I/O.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Resolver, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.Redis.Metrics = reg
	st, err := store.Open(opts.Redis)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	r := &Resolver{
		opts:     opts,
		log:      log,
		store:    st,
		metrics:  newMetrics(reg),
		stopping: make(chan struct{}),
	}
	r.live.every = opts.HostsEvery
	r.client, err = component.New(component.Config{
		Addr:       opts.Router,
		Name:       opts.Name,
		Secret:     opts.Secret,
		Binds:      []component.Bind{{Name: opts.Network, Multi: true}},
		OnStanza:   r.onStanza,
		QueueBytes: 16 << 20,
		Limits:     xml.Limits{MaxElementBytes: 1 << 20},
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 2 * time.Second,
		Log:        log,
	})
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	r.send = r.client.Send
	r.queues = make([]chan []byte, opts.Workers)
	for i := range r.queues {
		r.queues[i] = make(chan []byte, opts.QueueLen)
	}
	return r, nil
}

// Run connects and serves until ctx ends, then handles what it read and
// closes the router connection.
func (r *Resolver) Run(ctx context.Context) error {
	defer r.store.Close()
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	clientCtx, cancelClient := context.WithCancel(context.Background())
	defer cancelClient()
	clientDone := make(chan error, 1)
	go func() { clientDone <- r.client.Run(clientCtx) }()
	var wg sync.WaitGroup
	for _, q := range r.queues {
		wg.Go(func() { r.worker(work, q) })
	}
	<-ctx.Done()
	r.stopOnce.Do(func() { close(r.stopping) })
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	timer := time.NewTimer(r.opts.ShutdownTimeout)
	select {
	case <-drained:
	case <-timer.C:
		cancelWork()
		<-drained
	}
	timer.Stop()
	cancelClient()
	return <-clientDone
}

// Ready reports whether the resolver can work.
func (r *Resolver) Ready(ctx context.Context) error {
	if !r.client.Connected() {
		return errors.New("not connected to the router")
	}
	return r.store.Ping(ctx)
}

// onStanza queues a copy of the stanza for the worker of its bare 'to'.
func (r *Resolver) onStanza(top *xml.Top) {
	var buf [128]byte
	h := fnv.New64a()
	if to, ok := top.Attr("to"); ok {
		if k, ok := jid.AppendBare(buf[:0], to); ok {
			h.Write(k)
		}
	}
	q := r.queues[h.Sum64()%uint64(len(r.queues))]
	select {
	case q <- bytes.Clone(top.Raw):
	case <-r.stopping:
	}
}

// worker resolves its queue's stanzas in batches, in order.
func (r *Resolver) worker(ctx context.Context, q chan []byte) {
	batch := make([][]byte, 0, r.opts.Batch)
	for {
		var first []byte
		select {
		case first = <-q:
		case <-r.stopping:
			for {
				select {
				case raw := <-q:
					r.resolve(ctx, [][]byte{raw})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < r.opts.Batch {
			select {
			case raw := <-q:
				batch = append(batch, raw)
			default:
				break fill
			}
		}
		r.resolve(ctx, batch)
		clear(batch)
	}
}
