//go:build unix && !linux

package supervisor

import "syscall"

// sysProcAttr puts the worker in its own process group (see proc_linux.go).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
