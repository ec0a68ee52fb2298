package procstat

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	if rss, err := RSS([]int{pid}); err != nil || rss < 1<<20 {
		t.Errorf("RSS = %d, %v", rss, err)
	}
	if _, err := CPU(pid); err != nil {
		t.Errorf("CPU: %v", err)
	}
	if !Alive(pid) || Alive(1<<30) {
		t.Error("Alive")
	}
	if _, err := RSS([]int{1 << 30}); err == nil {
		t.Error("RSS of no process")
	}
}

func TestDescendantsAndListener(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	found := false
	for _, p := range Descendants(os.Getpid()) {
		found = found || p == cmd.Process.Pid
	}
	if !found {
		t.Errorf("child %d not among %v", cmd.Process.Pid, Descendants(os.Getpid()))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid, err := ListenerPID(ln.Addr().(*net.TCPAddr).Port)
	if err != nil || pid != os.Getpid() {
		t.Errorf("ListenerPID = %d, %v; want %d", pid, err, os.Getpid())
	}
}
