//go:build !unix

package assign

import (
	"testing"
	"time"
)

var processStart = time.Now()

// cpuTime falls back to wall time where getrusage is missing.
func cpuTime(*testing.T) time.Duration { return time.Since(processStart) }
