// Command s2s is the Kontalk server's server-to-server process: it takes
// the router's default route and carries stanzas to the other hosts of
// the network and to the rest of the XMPP federation, and accepts theirs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/daemon"
	"github.com/kontalk/xmppd/s2s/server"
)

func main() {
	var (
		opts                      server.Options
		certFile, keyFile, caFile string
		dnsServer                 string
		serverKeyFile             string
		requireTLS                bool

		maxStanza    = config.ByteSize(512 << 10)
		preAuth      = config.ByteSize(8 << 10)
		preAuthBytes = config.ByteSize(64 << 10)
		rate         = config.ByteSize(64 << 10)
		burst        = config.ByteSize(0)
		queue        = config.ByteSize(1 << 20)
	)
	daemon.Main(daemon.Spec{
		Name:  "s2s",
		Admin: "127.0.0.1:9344",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Listen, "listen", ":5269", "inbound server-to-server listener address")
			fs.StringVar(&opts.Router, "router", "127.0.0.1:5347", "router address")
			config.SecretVar(fs, &opts.Secret, "secret", "", "router secret of the server's own components")
			fs.StringVar(&opts.Name, "name", "", "component name at the router (default s2s.<host>)")
			fs.StringVar(&opts.Network, "network", "", "network domain N (users are user@N)")
			fs.StringVar(&opts.Host, "host", "", "this host's domain H")
			fs.StringVar(&certFile, "tls-cert", "", "PEM certificate (with chain) presented to federated servers")
			fs.StringVar(&keyFile, "tls-key", "", "PEM private key of -tls-cert")
			fs.StringVar(&caFile, "ca-file", "", "PEM CAs trusted for federated servers' certificates, besides the system's")
			fs.StringVar(&serverKeyFile, "server-key", "", "armored OpenPGP server key of this host: authenticates it to the other hosts of the network")
			config.SecretVar(fs, &opts.DialbackSecret, "dialback-secret", "", "secret dialback keys derive from; the same on every host of the network")
			fs.BoolVar(&requireTLS, "require-tls", true, "refuse federated streams without TLS")
			config.MapVar(fs, &opts.Peers, "peer", "static address of a domain's server, DOMAIN=HOST:PORT (repeatable)")
			fs.StringVar(&dnsServer, "dns", "", "DNS server (HOST:PORT) for SRV and address lookups, instead of the system's resolver")
			fs.StringVar(&opts.RedisURL, "redis", "", "Redis URL of the network directory (hosts, leases); empty: no other hosts")
			fs.DurationVar(&opts.HostsRefresh, "hosts-refresh", 0, "how often the network directory is read (default 1s)")
			config.ByteSizeVar(fs, &maxStanza, "max-stanza", maxStanza, "largest stanza on an authenticated stream")
			config.ByteSizeVar(fs, &preAuth, "pre-auth-stanza", preAuth, "largest element before a peer authenticated")
			config.ByteSizeVar(fs, &preAuthBytes, "pre-auth-bytes", preAuthBytes, "all a peer may send before it authenticated")
			config.ByteSizeVar(fs, &rate, "rate", rate, "bytes per second read from one federated stream")
			config.ByteSizeVar(fs, &burst, "rate-burst", burst, "bytes a federated stream may send at once (default -max-stanza)")
			config.ByteSizeVar(fs, &queue, "queue", queue, "bytes of stanzas waiting for one outbound link while it connects")
			fs.DurationVar(&opts.ConnectTimeout, "connect-timeout", 0, "time allowed to set up an outbound link (default 30s)")
			fs.DurationVar(&opts.HandshakeTimeout, "handshake-timeout", 0, "time an inbound peer has to authenticate, TLS included (default 60s)")
			fs.DurationVar(&opts.IdleTimeout, "idle-timeout", 0, "close streams that carried no stanza for this long (default 10m)")
			fs.DurationVar(&opts.WriteTimeout, "write-timeout", 0, "time allowed for one write to a peer (default 10s)")
			fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 0, "time allowed to drain on SIGTERM (default 5s)")
		},
		Start: func(env daemon.Env) (daemon.Service, error) {
			opts.MaxStanza, opts.PreAuthStanza, opts.PreAuthBytes = int(maxStanza), int(preAuth), int(preAuthBytes)
			opts.Rate, opts.RateBurst, opts.QueueBytes = int(rate), int(burst), int(queue)
			opts.AllowPlaintext = !requireTLS
			if dnsServer != "" {
				r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, dnsServer)
				}}
				opts.Resolver, opts.HostResolver = r, r
			}
			if err := loadCredentials(&opts, certFile, keyFile, caFile, serverKeyFile); err != nil {
				return nil, err
			}
			if opts.HostIdentity != nil {
				env.Log.Info("network host key loaded", zap.String("fingerprint", opts.HostIdentity.Fingerprint))
			}
			srv, err := server.New(opts, env.Log, env.Reg)
			if err != nil {
				return nil, err
			}
			if err := srv.Listen(); err != nil {
				return nil, err
			}
			if err := env.Admin.AddCheck("s2s", admin.CheckerFunc(func(context.Context) error { return srv.CheckReady() })); err != nil {
				return nil, err
			}
			return srv, env.Admin.HandleJSON("/connz", func() any { return srv.Connz() })
		},
	})
}

// loadCredentials reads the certificates and keys named by the flags.
func loadCredentials(opts *server.Options, certFile, keyFile, caFile, serverKeyFile string) error {
	if (certFile == "") != (keyFile == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	if certFile != "" {
		c, err := server.LoadFederationCert(certFile, keyFile)
		if err != nil {
			return err
		}
		opts.FederationCert = c
	}
	roots, err := server.LoadRoots(caFile)
	if err != nil {
		return err
	}
	opts.Roots = roots
	if serverKeyFile != "" {
		armored, err := os.ReadFile(serverKeyFile)
		if err != nil {
			return fmt.Errorf("server key: %w", err)
		}
		id, err := server.LoadHostIdentity(armored, opts.Host, time.Now())
		if err != nil {
			return err
		}
		opts.HostIdentity = id
	}
	return nil
}
