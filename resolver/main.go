// Command resolver maps the network's addresses to the hosts that serve
// them: bound to the network domain N at the router (several instances
// share it), it rewrites user@N[/resource] to user@H[/resource] from the
// Redis directory and sends the stanza on.
package main

import (
	"flag"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/daemon"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/resolver/resolve"
)

func main() {
	var opts resolve.Options
	daemon.Main(daemon.Spec{
		Name:  "resolver",
		Admin: "127.0.0.1:9341",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Host, "host", "", "this host's domain H, where the domain's and services' stanzas go (required)")
			fs.StringVar(&opts.Network, "network", "", "the network domain N to resolve (required)")
			fs.StringVar(&opts.Name, "name", "", "this instance's component name, unique (default resolver-1.<host>)")
			fs.StringVar(&opts.Router, "router", "127.0.0.1:5347", "router address")
			config.SecretVar(fs, &opts.Secret, "secret", "", "secret of the server's own components")
			config.SecretVar(fs, &opts.Redis.URL, "redis", "redis://127.0.0.1:6379/0", "Redis URL (redis://host:port/db; host:port,host:port for a cluster)")
			fs.DurationVar(&opts.Redis.Timeout, "redis-timeout", 0, "bound on each Redis read and write (default 2s)")
			fs.IntVar(&opts.Workers, "workers", 0, "workers resolving in parallel (default 8)")
			fs.IntVar(&opts.Batch, "batch", 0, "most stanzas resolved in one Redis round trip (default 64)")
			fs.DurationVar(&opts.HostsEvery, "hosts-every", 0, "how often the set of live hosts is read (default 1s)")
			fs.DurationVar(&opts.RetryFor, "retry-for", 0, "how long stanzas wait for Redis to come back (default 10s)")
			fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 0, "time allowed to drain on SIGTERM (default 5s)")
		},
		Start: func(env daemon.Env) (daemon.Service, error) {
			if opts.Name == "" && opts.Host != "" {
				opts.Name = "resolver-1." + opts.Host
			}
			log := env.Log.With(zap.String("instance", opts.Name))
			store.RedirectLogs(log)
			r, err := resolve.New(opts, log, env.Reg)
			if err != nil {
				return nil, err
			}
			return r, env.Admin.AddCheck("resolver", admin.CheckerFunc(r.Ready))
		},
	})
}
