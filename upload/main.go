// Command upload is the file upload service of a Kontalk network: an
// XEP-0114 component handing out XEP-0363 slots, and the HTTP server
// that stores and serves the files.
package main

import (
	"context"
	"errors"
	"flag"
	"strings"

	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/daemon"
	"github.com/kontalk/xmppd/upload/server"
)

func main() {
	var (
		opts    server.Options
		types   string
		key     string
		maxSize = config.ByteSize(20 << 20)
	)
	daemon.Main(daemon.Spec{
		Name:  "upload",
		Admin: "127.0.0.1:9345",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Name, "name", "", "component name at the router (media.N)")
			fs.StringVar(&opts.Network, "network", "", "network domain N: only its users get slots")
			fs.StringVar(&opts.Router, "router", "127.0.0.1:5347", "router address")
			config.SecretVar(fs, &opts.Secret, "secret", "", "component secret")
			fs.StringVar(&opts.HTTPListen, "http", ":8080", "HTTP listener for uploads and downloads")
			fs.StringVar(&opts.PublicURL, "public-url", "", "base URL clients reach the HTTP listener at (default http://<listener>)")
			fs.StringVar(&opts.Dir, "dir", "var/upload", "directory of the files")
			config.ByteSizeVar(fs, &maxSize, "max-size", maxSize, "largest file accepted")
			fs.StringVar(&types, "types", server.DefaultTypes, "content types accepted (comma-separated, image/* patterns)")
			fs.DurationVar(&opts.SlotTTL, "slot-ttl", 0, "how long an upload slot may be used (default 5m)")
			fs.DurationVar(&opts.FileTTL, "file-ttl", 0, "how long files are kept (default 720h)")
			config.SecretVar(fs, &key, "signing-key", "", "key signing upload URLs (at least 16 bytes)")
		},
		Start: func(env daemon.Env) (daemon.Service, error) {
			opts.MaxSize = int64(maxSize)
			opts.Key = []byte(key)
			for t := range strings.SplitSeq(types, ",") {
				if t = strings.TrimSpace(t); t != "" {
					opts.Types = append(opts.Types, t)
				}
			}
			srv, err := server.New(opts, env.Log, env.Reg)
			if err != nil {
				return nil, err
			}
			if err := srv.Listen(); err != nil {
				return nil, err
			}
			return srv, env.Admin.AddCheck("router", admin.CheckerFunc(func(context.Context) error {
				if !srv.Connected() {
					return errors.New("not connected to the router")
				}
				return nil
			}))
		},
	})
}
