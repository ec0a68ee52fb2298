//go:build unix && !linux

package testkit

import "syscall"

// sysProcAttr puts the process in its own group, so that killing the group
// kills whatever it spawned.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
