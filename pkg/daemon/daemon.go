// Package daemon is the frame every process of the server runs in:
// flags with their KONTALK_* variables, the zap logger, the Prometheus
// registry and the admin server, then the service until SIGINT or
// SIGTERM. A command's main declares its flags and builds its service;
// the rest is the same everywhere, so it is written once here.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/admin"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/logging"
)

// Service is what a process runs: until ctx ends, then a graceful stop.
type Service interface {
	Run(ctx context.Context) error
}

// Env is what Start gets to build the service.
type Env struct {
	Log   *zap.Logger          // named after the process
	Reg   *prometheus.Registry // the process's own registry, served on /metrics
	Admin *admin.Server        // add readiness checks and JSON endpoints here
}

// Spec describes a process.
type Spec struct {
	// Name names the flag set and the logger ("router").
	Name string
	// Admin is the default admin address.
	Admin string
	// Flags registers the process's own flags; the common ones (-admin,
	// -log-format, -log-level) are added by the frame.
	Flags func(fs *flag.FlagSet)
	// Start runs once the flags are parsed: it builds the service. The
	// admin server starts listening after it returns, and a failure of
	// either ends the process before the service runs.
	Start func(env Env) (Service, error)
}

// Main runs spec with the command line and the environment, and exits
// with status 1 on failure (0 after -help).
func Main(spec Spec) {
	if err := Run(context.Background(), spec, os.Args[1:], os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		os.Exit(1)
	}
}

// Run is Main without exiting: it runs the service until ctx ends or the
// process gets SIGINT or SIGTERM, and returns the first error of the
// service or the admin server.
func Run(ctx context.Context, spec Spec, args []string, getenv func(string) string) error {
	var (
		adminAddr string
		profiling bool
		logOpts   logging.Options
	)
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	spec.Flags(fs)
	fs.StringVar(&adminAddr, "admin", spec.Admin, "admin HTTP address (/healthz, /readyz, /metrics and JSON snapshots)")
	fs.BoolVar(&profiling, "pprof", false, "serve the Go profiler on the admin address under /debug/pprof/")
	logOpts.RegisterFlags(fs)
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, logOpts.Format, logOpts.Level)
	if err != nil {
		return err
	}
	defer log.Sync()
	log = log.Named(spec.Name)
	log.Info("starting", config.Fields(fs)...)

	reg := admin.NewRegistry()
	adm := admin.New(adminAddr, reg, log.Named("admin"))
	if profiling {
		adm.EnableProfiling()
	}
	svc, err := spec.Start(Env{Log: log, Reg: reg, Admin: adm})
	if err != nil {
		return err
	}
	if err := adm.Listen(ctx); err != nil {
		return err
	}
	log.Info("admin listening", zap.String("addr", adm.Addr()))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	admDone := make(chan error, 1)
	go func() { admDone <- adm.Serve(ctx) }()
	err = svc.Run(ctx)
	stop()
	if aerr := <-admDone; err == nil {
		err = aerr
	}
	return err
}
