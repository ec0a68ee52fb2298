// Command router is the Kontalk server's component router: every other
// process (resolver, sm, c2s, s2s, upload) and any third-party XEP-0114
// component connects to it, and it routes stanzas between them by domain.
package main

import (
	"context"
	"errors"
	"flag"

	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/daemon"
	"github.com/kontalk/xmppd/router/server"
)

func main() {
	var (
		opts      server.Options
		maxStanza = config.ByteSize(1 << 20)
		queue     = config.ByteSize(8 << 20)
	)
	daemon.Main(daemon.Spec{
		Name:  "router",
		Admin: "127.0.0.1:9340",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Listen, "listen", ":5347", "component listener address")
			config.SecretVar(fs, &opts.Secret, "secret", "", "secret of the server's own (trusted) components")
			config.SecretMapVar(fs, &opts.Components, "component", "third-party component NAME=SECRET (repeatable)")
			config.ByteSizeVar(fs, &maxStanza, "max-stanza", maxStanza, "largest stanza accepted from a component")
			config.ByteSizeVar(fs, &queue, "queue", queue, "bytes waiting for one component before senders are throttled")
			fs.DurationVar(&opts.Stall, "stall", 0, "how long senders wait on a full queue before its component is disconnected (default 250ms)")
			fs.DurationVar(&opts.HandshakeTimeout, "handshake-timeout", 0, "time allowed from connect to handshake (default 10s)")
			fs.DurationVar(&opts.WriteTimeout, "write-timeout", 0, "time allowed for one write to a component (default 10s)")
			fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 0, "time allowed to drain on SIGTERM (default 5s)")
		},
		Start: func(env daemon.Env) (daemon.Service, error) {
			opts.MaxStanza = int(maxStanza)
			opts.QueueBytes = int(queue)
			srv, err := server.New(opts, env.Log, env.Reg)
			if err != nil {
				return nil, err
			}
			if err := srv.Listen(); err != nil {
				return nil, err
			}
			if err := env.Admin.AddCheck("listener", admin.CheckerFunc(func(context.Context) error {
				select {
				case <-srv.Ready():
					return nil
				default:
					return errors.New("not accepting yet")
				}
			})); err != nil {
				return nil, err
			}
			if err := env.Admin.HandleJSON("/routez", func() any { return srv.Routez() }); err != nil {
				return nil, err
			}
			return srv, env.Admin.HandleJSON("/connz", func() any { return srv.Connz() })
		},
	})
}
