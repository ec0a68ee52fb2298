//go:build unix

package testkit

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"
)

// redisStartTimeout bounds the wait for redis-server to answer PING, which
// includes loading its append-only file after a restart.
const redisStartTimeout = 30 * time.Second

// RedisOptions configure StartRedis.
type RedisOptions struct {
	// AppendOnly enables the append-only file with an fsync per write
	// (appendfsync always), so that Kill then Restart loses no
	// acknowledged write: what durability tests need. Without it the data
	// lives in memory only and a restart starts empty.
	AppendOnly bool
}

// Redis is a private redis-server on a free loopback port, with its data in
// a directory of its own.
type Redis struct {
	t    testing.TB
	bin  string
	args []string
	addr string
	dir  string
	proc *Process
}

// StartRedis starts redis-server from PATH and waits until it answers PING.
// The test fails if redis-server is missing: system tests need it (install
// the redis-server package).
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testkit: redis-server not found in PATH (install the redis-server package): %v", err)
	}
	r := &Redis{t: t, bin: bin, dir: t.TempDir()}
	// A port found free may be taken before redis binds it; try another.
	const attempts = 3
	for range attempts {
		r.addr = FreeAddr(t)
		r.args = redisArgs(r.addr, r.dir, opts)
		if r.start() {
			return r
		}
	}
	t.Fatalf("testkit: redis-server failed to start %d times; see its output above", attempts)
	return nil
}

func redisArgs(addr, dir string, opts RedisOptions) []string {
	_, port, _ := net.SplitHostPort(addr) // addr comes from FreeAddr
	appendOnly := "no"
	if opts.AppendOnly {
		appendOnly = "yes"
	}
	return []string{
		"--bind", "127.0.0.1",
		"--port", port,
		"--dir", dir,
		"--save", "", // no RDB snapshots: tests choose durability with AppendOnly
		"--appendonly", appendOnly,
		"--appendfsync", "always",
		"--daemonize", "no",
		"--loglevel", "warning",
	}
}

// start runs redis-server and waits for PING to succeed. It reports false if
// the server exited before answering, and fails the test if it neither
// exits nor answers in time.
func (r *Redis) start() bool {
	r.t.Helper()
	r.proc = StartProcess(r.t, "redis", r.bin, r.args, nil)
	var lastErr error
	ready := poll(redisStartTimeout, func() bool {
		select {
		case <-r.proc.Exited():
			return true
		default:
		}
		lastErr = redisPing(r.addr)
		return lastErr == nil
	})
	select {
	case <-r.proc.Exited():
		return false
	default:
	}
	if !ready {
		r.t.Fatalf("testkit: redis-server on %s does not answer PING within %v: %v", r.addr, redisStartTimeout, lastErr)
	}
	return true
}

// redisPing sends PING and expects +PONG; a server still loading its data
// answers -LOADING instead.
func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Addr returns the server's address, "127.0.0.1:<port>".
func (r *Redis) Addr() string { return r.addr }

// URL returns the server's URL for database 0, "redis://127.0.0.1:<port>/0".
func (r *Redis) URL() string { return "redis://" + r.addr + "/0" }

// Dir returns the server's data directory.
func (r *Redis) Dir() string { return r.dir }

// Kill kills redis-server with SIGKILL, as a crash would.
func (r *Redis) Kill() { r.proc.Kill() }

// Restart starts redis-server again on the same port and data directory,
// killing it first if it runs, and waits until it answers PING. With
// AppendOnly it reloads every acknowledged write from its append-only file.
func (r *Redis) Restart() {
	r.t.Helper()
	r.proc.Kill()
	if !r.start() {
		r.t.Fatalf("testkit: redis-server exited on restart; see its output above")
	}
}
