package testkit

import "syscall"

// sysProcAttr puts the process in its own group, so that killing the group
// kills whatever it spawned, and has the kernel kill it if the test binary
// dies first. Pdeathsig follows the thread that started the process; Go
// only ends threads of goroutines that exit while locked to them, which
// tests do not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
