// Command sm is the Kontalk session manager: sessions, presence,
// rosters and subscriptions, the durable inbox, blocking, keys, last
// activity, discovery, registration, push notifications, multicast and
// the server list for the users of one host of the network. It
// connects to the router as -name (sm-1.H), binding H and sm.H with
// multi; several instances share a host's users.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/daemon"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/sm/server"
)

func main() {
	var (
		opts       server.Options
		keyFile    string
		components string
		providers  providerFlags
	)
	daemon.Main(daemon.Spec{
		Name:  "sm",
		Admin: "127.0.0.1:9342",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Host, "host", "", "this host's domain H (required)")
			fs.StringVar(&opts.Network, "network", "", "the network domain N users see (required)")
			fs.StringVar(&opts.Name, "name", "", "this instance's component name, unique (default sm-1.<host>)")
			fs.StringVar(&opts.Router, "router", "127.0.0.1:5347", "router address")
			config.SecretVar(fs, &opts.Secret, "secret", "", "secret of the server's own components")
			config.SecretVar(fs, &opts.Redis.URL, "redis", "redis://127.0.0.1:6379/0", "Redis URL (redis://host:port/db; host:port,host:port for a cluster)")
			fs.DurationVar(&opts.Redis.Timeout, "redis-timeout", 0, "bound on each Redis read and write (default 2s)")
			fs.DurationVar(&opts.Redis.InboxRetention, "inbox-retention", 0, "how long an unacknowledged message is kept (default 168h)")
			fs.IntVar(&opts.Redis.InboxMax, "inbox-max", 0, "most messages kept for one user (default 10000)")
			fs.StringVar(&keyFile, "server-key", "", "file with the network's server key(s), armored, current first; the current one as a private key to certify users' keys (registration)")
			fs.StringVar(&components, "components", "", "components listed in the domain's disco#items while connected, comma-separated (default media.<network>,upload.<host>)")
			fs.IntVar(&opts.Shards, "workers", 0, "workers handling users' stanzas in parallel (default 64)")
			fs.IntVar(&opts.QueueLen, "worker-queue", 0, "stanzas waiting per worker before reading from the router pauses (default 256)")
			fs.DurationVar(&opts.LeaseTTL, "lease-ttl", 0, "lifetime of the host's lease (default 15s)")
			fs.DurationVar(&opts.LeaseEvery, "lease-every", 0, "how often the lease is renewed (default 5s)")
			fs.DurationVar(&opts.SweepEvery, "sweep-every", 0, "how often the sweep runs (default 30s)")
			fs.DurationVar(&opts.RedeliverAfter, "redeliver-after", 0, "age of an unacknowledged stored message the sweep delivers again (default 1m)")
			fs.DurationVar(&opts.C2SGrace, "c2s-grace", 0, "how long a c2s may be missing from the router's routes before the sweep ends its sessions (default 30s)")
			fs.DurationVar(&opts.RetryFor, "retry-for", 0, "how long a stanza waits for Redis to come back (default 1m)")
			fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 0, "time allowed to drain on SIGTERM (default 5s)")
			providers.declare(fs, &opts)
		},
		Start: func(env daemon.Env) (daemon.Service, error) {
			if opts.Name == "" && opts.Host != "" {
				opts.Name = "sm-1." + opts.Host
			}
			if components != "" {
				opts.Components = strings.Split(components, ",")
			}
			if keyFile != "" {
				data, err := os.ReadFile(keyFile)
				if err != nil {
					return nil, fmt.Errorf("server key: %w", err)
				}
				opts.ServerKeys = data
			}
			log := env.Log.With(zap.String("instance", opts.Name))
			store.RedirectLogs(log)
			if err := providers.apply(&opts, log); err != nil {
				return nil, err
			}
			srv, err := server.New(opts, log, env.Reg)
			if err != nil {
				return nil, err
			}
			if err := env.Admin.AddCheck("sm", admin.CheckerFunc(srv.Ready)); err != nil {
				return nil, err
			}
			return srv, env.Admin.HandleJSON("/statez", func() any { return srv.Statez() })
		},
	})
}
