package main

import "syscall"

// childAttr makes the started processes die with this program.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
