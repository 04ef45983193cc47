//go:build linux

package supervisor

import "syscall"

// sysProcAttr puts the worker in its own process group, so a terminal's
// Ctrl-C reaches the node (which stops its workers in order) and not the
// workers directly, and has the kernel kill the worker if the node dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
