// Command xmppload runs one load scenario against one XMPP server it
// starts on this machine: our network (bin/devrun), Prosody or ejabberd.
// It logs users in over STARTTLS at a set rate, has each send a chat
// message with a receipt request to a random other user at a set
// interval, and prints logins per second, delivered messages per second,
// delivery latency percentiles, messages lost (acknowledged by the server
// with XEP-0198 but never delivered) and the server's resident memory per
// connection, as JSON and as a Markdown table row.
//
//	xmppload -server kontalk -users 1000 -interval 2s -duration 30s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kontalk/xmppd/bench/load"
	"github.com/kontalk/xmppd/bench/servers"
)

func main() {
	var (
		server string
		bin    string
		port   int
		sc     load.Scenario
		pprof  bool
	)
	flag.StringVar(&server, "server", "kontalk", "server to start: kontalk, prosody or ejabberd")
	flag.StringVar(&bin, "bin", "bin", "directory of devrun and the component binaries (kontalk)")
	flag.IntVar(&port, "port-offset", 2000, "port offset of our network (devrun -port-offset); Prosody and ejabberd listen on 5222 plus it")
	flag.BoolVar(&pprof, "pprof", false, "start our components with -pprof")
	flag.StringVar(&sc.Name, "name", "messages", "scenario name in the report")
	flag.IntVar(&sc.Users, "users", 1000, "users logged in")
	flag.Float64Var(&sc.LoginRate, "login-rate", 0, "logins started per second (0: as fast as -concurrency allows)")
	flag.IntVar(&sc.Concurrency, "concurrency", 64, "logins in flight")
	flag.DurationVar(&sc.Interval, "interval", 2*time.Second, "each user sends a message this often (0: idle connections only)")
	flag.DurationVar(&sc.Duration, "duration", 30*time.Second, "how long users send messages")
	flag.DurationVar(&sc.Drain, "drain", 5*time.Second, "time left after sending for acknowledgements and deliveries")
	flag.DurationVar(&sc.Settle, "settle", time.Second, "pause after the logins before memory is read")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, server, bin, port, pprof, sc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xmppload:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(res)
	fmt.Println(load.TableHeader)
	fmt.Println(res.TableRow())
}

func run(ctx context.Context, server, bin string, offset int, pprof bool, sc load.Scenario) (*load.Result, error) {
	srv, err := servers.Start(ctx, server, servers.Options{BinDir: bin, PortOffset: offset, Profiling: pprof})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "xmppload: %s (%s) running, pids %v\n", srv.Name(), srv.Version(), srv.PIDs())
	return load.Run(ctx, srv, sc)
}
