package server

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/push"
	"github.com/kontalk/xmppd/sm/register"
)

// Options configure a Server. Zero values take the defaults below.
type Options struct {
	// Name is this instance's component name (sm-1.H), unique.
	Name string
	// Host is the host domain H; Network the network domain N.
	Host, Network string
	// Router is the router's address, Secret the components' secret.
	Router, Secret string
	// Redis configures the store.
	Redis store.Options
	// ServerKeys is the network's server key(s), armored, current first
	// (public or private blocks): the current one is given to clients
	// asking the domain for its key, all of them are trusted when
	// checking users' keys.
	ServerKeys []byte
	// Components are names listed in the domain's disco#items while
	// connected (default media.N and upload.H).
	Components []string
	// Shards is the number of workers (default 64); QueueLen bounds each
	// worker's queue (default 256 stanzas).
	Shards, QueueLen int
	// LeaseTTL is the host lease's lifetime (default 15s), renewed every
	// LeaseEvery (default 5s).
	LeaseTTL, LeaseEvery time.Duration
	// SweepEvery is how often the sweep runs (default 30s);
	// RedeliverAfter is how old an unacknowledged stored message must be
	// for the sweep to deliver it again (default 60s).
	SweepEvery, RedeliverAfter time.Duration
	// C2SGrace is how long a c2s instance may be missing from the routes
	// (the router restarted and it has not reconnected yet) before the
	// sweep ends its sessions (default 30s). A c2s the router reports
	// gone has its sessions ended at once.
	C2SGrace time.Duration
	// RetryFor bounds how long a stanza's handling retries while Redis
	// is unreachable (default 60s).
	RetryFor time.Duration
	// ShutdownTimeout bounds the drain on shutdown (default 5s).
	ShutdownTimeout time.Duration
	// Register configures in-band registration; its Signer is the
	// current server key, taken from ServerKeys.
	Register register.Options
	// Push configures push notifications.
	Push push.Options
	// PurgeAfter deletes users inactive for longer (no session, last
	// logout before); 0 keeps them forever.
	PurgeAfter time.Duration
	// PurgeEvery is how often the purge looks for them (default 1h).
	PurgeEvery time.Duration
}

func (o *Options) setDefaults() {
	if len(o.Components) == 0 && o.Network != "" {
		o.Components = []string{"media." + o.Network, "upload." + o.Host}
	}
	if o.Shards <= 0 {
		o.Shards = 64
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 256
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.LeaseEvery <= 0 {
		o.LeaseEvery = 5 * time.Second
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = 30 * time.Second
	}
	if o.RedeliverAfter <= 0 {
		o.RedeliverAfter = time.Minute
	}
	if o.C2SGrace <= 0 {
		o.C2SGrace = 30 * time.Second
	}
	if o.RetryFor <= 0 {
		o.RetryFor = time.Minute
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	if o.PurgeEvery <= 0 {
		o.PurgeEvery = time.Hour
	}
	o.Redis.Namespace = "sm"
}

func (o *Options) validate() error {
	var errs []error
	for _, d := range []struct{ flag, v string }{{"host", o.Host}, {"network", o.Network}, {"name", o.Name}} {
		if d.v == "" {
			errs = append(errs, fmt.Errorf("sm: -%s is required", d.flag))
		} else if _, ok := jid.AppendDomain(nil, []byte(d.v)); !ok || strings.ContainsAny(d.v, "@/") {
			errs = append(errs, fmt.Errorf("sm: -%s %q is not a domain", d.flag, d.v))
		}
	}
	if o.Host != "" && o.Host == o.Network {
		errs = append(errs, errors.New("sm: -host and -network must differ (H names a server of the network N)"))
	}
	if o.Name != "" && o.Host != "" && !strings.HasSuffix(o.Name, "."+o.Host) {
		errs = append(errs, fmt.Errorf("sm: -name %q must be under the host (sm-1.%s)", o.Name, o.Host))
	}
	if o.Router == "" {
		errs = append(errs, errors.New("sm: -router is required"))
	}
	if o.Secret == "" {
		errs = append(errs, errors.New("sm: no secret: set -secret (KONTALK_SECRET)"))
	}
	if o.LeaseEvery >= o.LeaseTTL {
		errs = append(errs, errors.New("sm: the lease must be renewed more often than it lasts"))
	}
	return errors.Join(errs...)
}
