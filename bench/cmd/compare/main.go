// Command compare runs the load scenarios (bench/load) against our
// network, Prosody and ejabberd, one server at a time on this machine,
// and writes a Markdown report: the machine, the versions, the command
// and one table. With -doc it replaces the report between the markers
// <!-- compare:begin --> and <!-- compare:end --> in that file.
//
// Scenarios: (a) -users users each sending a message every -interval for
// -duration; (b) the same users stepping the total message rate up
// through -rates, -step each, to find the highest rate with p99 delivery
// under -p99; (c, d) -idle connections logged in as fast as possible: the
// login rate and the memory per idle authenticated connection.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kontalk/xmppd/bench/load"
	"github.com/kontalk/xmppd/bench/servers"
)

const (
	beginMarker = "<!-- compare:begin -->"
	endMarker   = "<!-- compare:end -->"
)

type options struct {
	servers     string
	bin         string
	offset      int
	users       int
	interval    time.Duration
	duration    time.Duration
	loginRate   float64
	rates       string
	step        time.Duration
	p99         time.Duration
	idle        int
	concurrency int
	doc         string
	jsonFile    string
}

func main() {
	var o options
	flag.StringVar(&o.servers, "servers", "kontalk,prosody,ejabberd", "servers to measure, in order")
	flag.StringVar(&o.bin, "bin", "bin", "directory of devrun and our component binaries")
	flag.IntVar(&o.offset, "port-offset", 2000, "added to the usual ports")
	flag.IntVar(&o.users, "users", 1000, "users of scenarios a and b")
	flag.DurationVar(&o.interval, "interval", 2*time.Second, "scenario a: each user sends a message this often")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "scenario a: how long")
	flag.Float64Var(&o.loginRate, "login-rate", 200, "scenarios a and b: logins per second")
	flag.StringVar(&o.rates, "rates", "100,200,300,400,500,750,1000,1500,2000,3000", "scenario b: total messages per second, in steps")
	flag.DurationVar(&o.step, "step", 10*time.Second, "scenario b: length of a step")
	flag.DurationVar(&o.p99, "p99", 100*time.Millisecond, "scenario b: the p99 delivery latency a rate must stay under")
	flag.IntVar(&o.idle, "idle", 10000, "scenarios c and d: connections logged in as fast as possible and held idle")
	flag.IntVar(&o.concurrency, "concurrency", 64, "logins in flight")
	flag.StringVar(&o.doc, "doc", "", "Markdown file whose compare markers get the report (default: print it)")
	flag.StringVar(&o.jsonFile, "json", "", "also write every result as JSON to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// serverReport is what was measured on one server.
type serverReport struct {
	Name    string         `json:"name"`
	Version string         `json:"version"`
	Results []*load.Result `json:"results"`
	Best    string         `json:"best_rate_under_p99,omitempty"`
	Err     string         `json:"error,omitempty"`
}

func run(ctx context.Context, o options) error {
	var rates []float64
	for _, f := range strings.Split(o.rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("-rates: %w", err)
		}
		rates = append(rates, r)
	}
	var reports []*serverReport
	for _, name := range strings.Split(o.servers, ",") {
		rep, err := measure(ctx, o, name, rates)
		if err != nil {
			fmt.Fprintf(os.Stderr, "compare: %s: %v\n", name, err)
			rep.Err = err.Error()
		}
		reports = append(reports, rep)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if o.jsonFile != "" {
		b, _ := json.MarshalIndent(reports, "", "  ")
		if err := os.WriteFile(o.jsonFile, b, 0o644); err != nil {
			return err
		}
	}
	report := markdown(o, reports)
	if o.doc == "" {
		fmt.Print(report)
		return nil
	}
	return replaceBetweenMarkers(o.doc, report)
}

// measure runs every scenario against one server, each on a fresh start
// of it, so that one scenario's leftovers do not weigh on the next.
func measure(ctx context.Context, o options, name string, rates []float64) (*serverReport, error) {
	rep := &serverReport{Name: name}
	start := func() (servers.Server, error) {
		srv, err := servers.Start(ctx, name, servers.Options{BinDir: o.bin, PortOffset: o.offset})
		if err == nil {
			rep.Version = srv.Version()
		}
		return srv, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "compare: %s: "+format+"\n", append([]any{name}, args...)...)
	}

	messages := load.Scenario{Users: o.users, LoginRate: o.loginRate, Concurrency: o.concurrency, Drain: 5 * time.Second, Settle: time.Second}

	// (a) steady messaging.
	srv, err := start()
	if err != nil {
		return rep, err
	}
	a := messages
	a.Name = fmt.Sprintf("a: 1 msg/%s each, %s", o.interval, o.duration)
	a.Interval, a.Duration = o.interval, o.duration
	logf("scenario a")
	res, err := load.Run(ctx, srv, a)
	srv.Stop()
	if err != nil {
		return rep, fmt.Errorf("scenario a: %w", err)
	}
	rep.Results = append(rep.Results, res)

	// (b) the rate steps up.
	if srv, err = start(); err != nil {
		return rep, err
	}
	b := messages
	b.Name, b.Duration = "b: step", o.step
	logf("scenario b")
	steps, best, err := load.StepUp(ctx, srv, b, rates, o.p99)
	srv.Stop()
	if err != nil {
		return rep, fmt.Errorf("scenario b: %w", err)
	}
	rep.Results = append(rep.Results, steps...)
	rep.Best = "none of the rates"
	if best >= 0 {
		rep.Best = fmt.Sprintf("%.0f/s", steps[best].OfferedPerSecond)
		if best == len(rates)-1 {
			rep.Best = "at least " + rep.Best + " (the highest rate tried)"
		}
	}

	// (c, d) idle connections, logged in as fast as possible.
	if srv, err = start(); err != nil {
		return rep, err
	}
	c := load.Scenario{Name: "c, d: idle, login burst", Users: o.idle, Concurrency: o.concurrency, Settle: 3 * time.Second}
	logf("scenarios c and d")
	res, err = load.Run(ctx, srv, c)
	srv.Stop()
	if err != nil {
		return rep, fmt.Errorf("scenarios c, d: %w", err)
	}
	rep.Results = append(rep.Results, res)
	return rep, nil
}

func markdown(o options, reports []*serverReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&b, "Command: `%s` (via `make bench-compare`).\n\n", strings.Join(os.Args, " "))
	b.WriteString("Versions:\n\n")
	for _, r := range reports {
		fmt.Fprintf(&b, "- %s: %s\n", r.Name, r.Version)
	}
	b.WriteString("\n" + load.TableHeader + "\n")
	for _, r := range reports {
		for _, res := range r.Results {
			b.WriteString(res.TableRow() + "\n")
		}
	}
	b.WriteString("\nHighest total message rate with p99 delivery under " + o.p99.String() + " (scenario b):\n\n")
	for _, r := range reports {
		line := r.Best
		if r.Err != "" {
			line = "failed: " + r.Err
		}
		fmt.Fprintf(&b, "- %s: %s\n", r.Name, line)
	}
	return b.String()
}

// machine describes this machine: CPUs, memory, kernel, Go.
func machine() string {
	mem := "unknown memory"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	return fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, load generator %s on the same CPUs",
		runtime.NumCPU(), mem, strings.TrimSpace(string(kernel)), runtime.Version())
}

// replaceBetweenMarkers puts report between the markers in file.
func replaceBetweenMarkers(file, report string) error {
	doc, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	i, j := bytes.Index(doc, []byte(beginMarker)), bytes.Index(doc, []byte(endMarker))
	if i < 0 || j < i {
		return errors.New(file + " has no " + beginMarker + " ... " + endMarker + " section")
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(beginMarker)])
	out.WriteString("\n" + report)
	out.Write(doc[j:])
	return os.WriteFile(file, out.Bytes(), 0o644)
}
