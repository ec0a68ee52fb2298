// Command devrun is what `make run` runs: a single-host Kontalk network
// on this machine for development. It creates development credentials
// under var/ on the first run (server key, TLS certificates, component
// secret, a fixed verification code), starts a private Redis with an
// append-only file in var/ and every component from bin/ in dependency
// order, prefixes their logs, waits until each is ready, writes
// var/run.env and prints how to connect. Ctrl-C or SIGTERM stops
// everything, in reverse order. With -prepare it only creates the
// credentials (the init service of docker-compose.yml).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kontalk/xmppd/pkg/devnet"
)

type options struct {
	varDir, binDir  string
	network, host   string
	listenAddr      string // address the client-facing listeners bind
	portOffset      int
	readyTimeout    time.Duration
	shutdownTimeout time.Duration
	prepareOnly     bool
}

func main() {
	var o options
	flag.StringVar(&o.varDir, "var", "var", "directory for credentials, Redis data and uploads")
	flag.StringVar(&o.binDir, "bin", "bin", "directory of the component binaries")
	flag.StringVar(&o.network, "network", "kontalk.localhost", "network domain N")
	flag.StringVar(&o.host, "host", "node1.kontalk.localhost", "host domain H")
	flag.StringVar(&o.listenAddr, "listen", "0.0.0.0", "address client-facing listeners (c2s, s2s, upload) bind")
	flag.IntVar(&o.portOffset, "port-offset", 0, "added to every port, to run beside another network")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "time each component has to become ready")
	flag.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "time each component has to stop")
	flag.BoolVar(&o.prepareOnly, "prepare", false, "create the development credentials under -var and exit (the compose init service)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "devrun:", err)
		os.Exit(1)
	}
}

// ports are the network's ports: the usual ones, plus -port-offset.
type ports struct {
	offset int
}

func (p ports) redis() int         { return 6390 + p.offset }
func (p ports) router() int        { return 5347 + p.offset }
func (p ports) c2s() int           { return 5222 + p.offset }
func (p ports) c2sTLS() int        { return 5223 + p.offset }
func (p ports) s2s() int           { return 5269 + p.offset }
func (p ports) upload() int        { return 8080 + p.offset }
func (p ports) admin(i int) string { return fmt.Sprintf("127.0.0.1:%d", 9340+i+p.offset) }
func (p ports) routerAddr() string { return fmt.Sprintf("127.0.0.1:%d", p.router()) }
func (p ports) redisURL() string   { return fmt.Sprintf("redis://127.0.0.1:%d/0", p.redis()) }
func (p ports) uploadURL() string  { return fmt.Sprintf("http://localhost:%d", p.upload()) }

// component is one process of the network.
type component struct {
	name  string
	bin   string
	args  []string
	env   []string
	admin string // admin address whose /readyz says the process is ready
	ready func(ctx context.Context) error
}

func run(o options) error {
	varDir, err := filepath.Abs(o.varDir)
	if err != nil {
		return err
	}
	f, err := prepare(varDir, o.network, o.host)
	if err != nil {
		return fmt.Errorf("preparing %s: %w", varDir, err)
	}
	if o.prepareOnly {
		fmt.Printf("credentials ready in %s (server key %s)\n", varDir, f.Fingerprint)
		return nil
	}
	comps := o.components(f, varDir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sup := &supervisor{timeout: o.shutdownTimeout, exited: make(chan string, len(comps))}
	defer sup.stopAll()

	for _, c := range comps {
		if c.bin != "redis-server" {
			if _, err := os.Stat(c.bin); err != nil {
				fmt.Printf("%-8s| not built yet (%s): skipped\n", c.name, c.bin)
				continue
			}
		}
		if err := sup.start(c); err != nil {
			return err
		}
		readyCtx, cancel := context.WithTimeout(ctx, o.readyTimeout)
		err := waitReady(readyCtx, c, sup)
		cancel()
		if err != nil {
			return fmt.Errorf("%s did not become ready: %w", c.name, err)
		}
	}
	if err := writeRunEnv(filepath.Join(varDir, devnet.EnvFile), o, f); err != nil {
		return err
	}
	p := ports{o.portOffset}
	fmt.Printf(`
Kontalk network %s is running on host %s.
  clients:   localhost:%d (STARTTLS), localhost:%d (direct TLS); development CA: %s
  register:  any phone number, verification code %s
  uploads:   %s
  router:    %s (component secret in %s)
  settings:  %s
Ctrl-C stops everything.
`, o.network, o.host, p.c2s(), p.c2sTLS(), f.CACert, f.VerifyCode, p.uploadURL(),
		p.routerAddr(), f.path("secrets/component-secret"), filepath.Join(varDir, devnet.EnvFile))

	select {
	case <-ctx.Done():
		fmt.Println("devrun: stopping")
		return nil
	case name := <-sup.exited:
		return fmt.Errorf("%s exited", name)
	}
}

// components lists the network's processes in start order.
func (o options) components(f *devFiles, varDir string) []*component {
	bin := func(name string) string { return filepath.Join(o.binDir, name) }
	p := ports{o.portOffset}
	router := p.routerAddr()
	common := []string{"KONTALK_SECRET=" + f.ComponentSecret, "KONTALK_LOG_FORMAT=console"}
	listen := func(port int) string { return fmt.Sprintf("%s:%d", o.listenAddr, port) }
	return []*component{
		{
			name: "redis", bin: "redis-server",
			args: []string{"--bind", "127.0.0.1", "--port", fmt.Sprint(p.redis()), "--dir", filepath.Join(varDir, "redis"),
				"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--loglevel", "warning"},
			ready: func(ctx context.Context) error { return redisPing(ctx, fmt.Sprintf("127.0.0.1:%d", p.redis())) },
		},
		{
			name: "router", bin: bin("router"), env: common, admin: p.admin(0),
			args: []string{"-listen", router, "-admin", p.admin(0)},
		},
		{
			name: "resolver", bin: bin("resolver"), env: common, admin: p.admin(1),
			args: []string{"-name", "resolver-1." + o.host, "-network", o.network, "-host", o.host,
				"-router", router, "-redis", p.redisURL(), "-admin", p.admin(1)},
		},
		{
			name: "sm", bin: bin("sm"), env: append(common, "KONTALK_VERIFY=dummy", "KONTALK_VERIFY_CODE="+f.VerifyCode), admin: p.admin(2),
			args: []string{"-name", "sm-1." + o.host, "-network", o.network, "-host", o.host,
				"-router", router, "-redis", p.redisURL(), "-server-key", f.ServerKey, "-admin", p.admin(2)},
		},
		{
			name: "c2s", bin: bin("c2s"), env: common, admin: p.admin(3),
			args: []string{"-name", "c2s-1." + o.host, "-network", o.network, "-host", o.host,
				"-router", router, "-listen", listen(p.c2s()), "-listen-tls", listen(p.c2sTLS()),
				"-tls-cert", f.TLSCert, "-tls-key", f.TLSKey, "-server-key", f.ServerPubKey, "-admin", p.admin(3)},
		},
		{
			name: "s2s", bin: bin("s2s"), env: append(common, "KONTALK_DIALBACK_SECRET="+f.DialbackSecret), admin: p.admin(4),
			args: []string{"-name", "s2s." + o.host, "-network", o.network, "-host", o.host,
				"-router", router, "-redis", p.redisURL(), "-listen", listen(p.s2s()),
				"-tls-cert", f.TLSCert, "-tls-key", f.TLSKey, "-server-key", f.ServerKey, "-admin", p.admin(4)},
		},
		{
			name: "upload", bin: bin("upload"), env: append(common, "KONTALK_SIGNING_KEY="+f.SigningKey), admin: p.admin(5),
			args: []string{"-name", "media." + o.network, "-network", o.network, "-router", router,
				"-http", listen(p.upload()), "-public-url", p.uploadURL(),
				"-dir", filepath.Join(varDir, "upload"), "-admin", p.admin(5)},
		},
	}
}

func writeRunEnv(path string, o options, f *devFiles) error {
	p := ports{o.portOffset}
	lines := []string{
		"KONTALK_NETWORK=" + o.network,
		"KONTALK_HOST=" + o.host,
		fmt.Sprintf("KONTALK_C2S_PORT=%d", p.c2s()),
		fmt.Sprintf("KONTALK_C2S_TLS_PORT=%d", p.c2sTLS()),
		"KONTALK_ROUTER_ADDR=" + p.routerAddr(),
		"KONTALK_COMPONENT_SECRET=" + f.ComponentSecret,
		"KONTALK_REDIS_URL=" + p.redisURL(),
		"KONTALK_VERIFY_CODE=" + f.VerifyCode,
		"KONTALK_SERVER_FINGERPRINT=" + f.Fingerprint,
		"KONTALK_SERVER_KEY=" + f.ServerPubKey,
		"KONTALK_CA_CERT=" + f.CACert,
		"KONTALK_UPLOAD_URL=" + p.uploadURL(),
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// supervisor starts processes and stops them in reverse order.
type supervisor struct {
	timeout time.Duration
	exited  chan string
	mu      sync.Mutex
	procs   []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	out  sync.WaitGroup
}

func (s *supervisor) start(c *component) error {
	cmd := exec.Command(c.bin, c.args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	p := &proc{name: c.name, cmd: cmd, done: make(chan struct{})}
	p.out.Add(1)
	go func() {
		defer p.out.Done()
		prefix(c.name, stdout)
	}()
	go func() {
		p.out.Wait()
		cmd.Wait()
		close(p.done)
		s.exited <- c.name
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return nil
}

// prefix copies a process's output line by line, each line prefixed
// with the component's name.
func prefix(name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Printf("%-8s| %s\n", name, sc.Text())
	}
}

// stopAll sends SIGTERM to each process, last started first, and kills
// those that do not stop in time.
func (s *supervisor) stopAll() {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		select {
		case <-p.done:
			continue
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(s.timeout):
			fmt.Printf("%-8s| did not stop in %s: killed\n", p.name, s.timeout)
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

func waitReady(ctx context.Context, c *component, s *supervisor) error {
	check := c.ready
	if check == nil {
		check = func(ctx context.Context) error { return httpReady(ctx, c.admin) }
	}
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", ctx.Err(), err)
		case name := <-s.exited:
			return fmt.Errorf("%s exited", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func httpReady(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return errors.New(strings.TrimSpace(string(b)))
	}
	return nil
}

func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return errors.New("redis answered " + strings.TrimSpace(line))
	}
	return nil
}
