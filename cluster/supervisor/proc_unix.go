//go:build unix

package supervisor

import (
	"os"
	"syscall"
)

// terminate asks the process to stop.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
