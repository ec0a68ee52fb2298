// Command c2s is the Kontalk server's client connection manager: it
// accepts XMPP clients on port 5222 (STARTTLS) and 5223 (direct TLS),
// authenticates them with their bridge certificates (SASL EXTERNAL),
// and relays their stanzas to and from sm through the router. See
// docs/c2s.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/c2s/server"
	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/bridge"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/daemon"
	"github.com/kontalk/xmppd/pkg/keyring"
)

func main() {
	var (
		opts       server.Options
		serverKeys []string
		generate   bool
		maxPreAuth = config.ByteSize(8 << 10)
		maxStanza  = config.ByteSize(256 << 10)
		rate       = config.ByteSize(64 << 10)
		burst      = config.ByteSize(512 << 10)
		maxQueue   = config.ByteSize(1 << 20)
	)
	daemon.Main(daemon.Spec{
		Name:  "c2s",
		Admin: "127.0.0.1:9343",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Name, "name", "", "this instance's component name at the router (c2s-<id>.H), unique in the network")
			fs.StringVar(&opts.Host, "host", "", "host domain H (envelopes about user u go to u@H)")
			fs.StringVar(&opts.Network, "network", "", "network domain N that clients open their streams to")
			fs.StringVar(&opts.Router, "router", "127.0.0.1:5347", "router address")
			config.SecretVar(fs, &opts.Secret, "secret", "", "router secret of the server's own components")
			fs.StringVar(&opts.Listen, "listen", ":5222", "STARTTLS client listener address ('-' disables it)")
			fs.StringVar(&opts.ListenTLS, "listen-tls", ":5223", "direct TLS client listener address, XEP-0368 ('-' disables it)")
			fs.StringVar(&opts.CertFile, "tls-cert", "", "server certificate chain, PEM")
			fs.StringVar(&opts.KeyFile, "tls-key", "", "server private key, PEM")
			fs.BoolVar(&generate, "tls-generate", false, "development: write a self-signed certificate for the network domain to -tls-cert/-tls-key if they do not exist")
			fs.Var(listValue{&serverKeys}, "server-key", "file with an armored server public key whose certifications log users in (repeatable; current key first)")
			fs.DurationVar(&opts.PreAuthTimeout, "preauth-timeout", 0, "time allowed from connect to authentication (default 30s)")
			config.ByteSizeVar(fs, &maxPreAuth, "max-preauth-stanza", maxPreAuth, "largest element accepted before authentication")
			config.ByteSizeVar(fs, &maxStanza, "max-stanza", maxStanza, "largest stanza accepted after authentication")
			fs.IntVar(&opts.MaxDepth, "max-depth", 0, "deepest element nesting after authentication (default 64)")
			fs.IntVar(&opts.MaxConnsPerIP, "max-conns-per-ip", 0, "open connections allowed from one address (default 100)")
			config.ByteSizeVar(fs, &rate, "rate", rate, "bytes per second one connection may send before it is no longer read")
			config.ByteSizeVar(fs, &burst, "burst", burst, "bytes one connection may send in a burst")
			fs.IntVar(&opts.MaxAuthFailures, "max-auth-failures", 0, "failed authentications before a connection is closed (default 3)")
			fs.IntVar(&opts.MaxRegister, "max-register", 0, "registration requests one connection may make (default 10)")
			fs.DurationVar(&opts.SMTimeout, "sm-timeout", 0, "time allowed for sm to answer auth, start and register (default 10s)")
			fs.IntVar(&opts.MaxUnconfirmed, "max-unconfirmed", 0, "client stanzas waiting for sm's confirmation before the client is not read (default 64)")
			fs.DurationVar(&opts.ResendInterval, "resend-interval", 0, "time after which an unconfirmed client stanza is sent to sm again (default 30s)")
			fs.DurationVar(&opts.ResumeTimeout, "resume-timeout", 5*time.Minute, "how long a resumable XEP-0198 session waits for its client (0 disables resumption)")
			fs.DurationVar(&opts.PingInterval, "ping-interval", 0, "silence after which a client is checked (default 4m)")
			fs.DurationVar(&opts.PingTimeout, "ping-timeout", 0, "time a client has to answer the check (default 60s)")
			fs.DurationVar(&opts.Keepalive, "keepalive", 0, "silence after which the server writes a whitespace keepalive (default 90s)")
			fs.DurationVar(&opts.WriteTimeout, "write-timeout", 0, "time allowed for one write to a client (default 30s)")
			config.ByteSizeVar(fs, &maxQueue, "max-queue", maxQueue, "bytes waiting for one client before it is disconnected as a slow consumer")
			fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 0, "time allowed to drain on SIGTERM (default 5s)")
		},
		Start: func(env daemon.Env) (daemon.Service, error) {
			opts.MaxPreAuthStanza = int(maxPreAuth)
			opts.MaxStanza = int(maxStanza)
			opts.Rate = int(rate)
			opts.Burst = int(burst)
			opts.MaxQueue = int(maxQueue)
			// Without the overlay every Kontalk client's handshake would
			// fail: refuse to start instead (docs/decisions.md).
			if err := bridge.CheckX509(); err != nil {
				return nil, err
			}
			var err error
			if opts.Trust, err = loadTrust(serverKeys); err != nil {
				return nil, err
			}
			env.Log.Info("trusted server keys", zap.Strings("fingerprints", opts.Trust.Fingerprints()))
			if generate {
				if err := generateCertificate(opts, env.Log); err != nil {
					return nil, err
				}
			}
			srv, err := server.New(opts, env.Log, env.Reg)
			if err != nil {
				return nil, err
			}
			if err := srv.Listen(); err != nil {
				return nil, err
			}
			for name, check := range map[string]admin.CheckerFunc{
				"listeners": func(context.Context) error {
					select {
					case <-srv.Ready():
						return nil
					default:
						return errors.New("not accepting yet")
					}
				},
				"router": func(context.Context) error {
					if !srv.RouterConnected() {
						return errors.New("not connected to the router")
					}
					return nil
				},
			} {
				if err := env.Admin.AddCheck(name, check); err != nil {
					return nil, err
				}
			}
			return srv, env.Admin.HandleJSON("/connz", func() any { return srv.Connz() })
		},
	})
}

// listValue is a repeatable string flag.
type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*v.p = append(*v.p, s)
	return nil
}

func (v listValue) IsRepeatable() bool { return true }

// loadTrust reads the trusted server public keys.
func loadTrust(files []string) (*keyring.Trust, error) {
	if len(files) == 0 {
		return nil, errors.New("no trusted server key: give -server-key FILE")
	}
	keys := make([]*keyring.ServerPublicKey, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("server key: %w", err)
		}
		k, err := keyring.ParseServerPublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("server key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keyring.NewTrust(keys...)
}

// generateCertificate writes a development certificate unless the files
// exist.
func generateCertificate(opts server.Options, log *zap.Logger) error {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return errors.New("-tls-generate needs -tls-cert and -tls-key")
	}
	_, certErr := os.Stat(opts.CertFile)
	_, keyErr := os.Stat(opts.KeyFile)
	if certErr == nil && keyErr == nil {
		return nil
	}
	if err := server.GenerateCertificate(opts.CertFile, opts.KeyFile, opts.Network); err != nil {
		return err
	}
	log.Warn("wrote a self-signed development certificate", zap.String("cert", opts.CertFile), zap.String("domain", opts.Network))
	return nil
}
