package runtime

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		// The test binary re-executed as the topology process of
		// TestExactlyOnceUnderCrashes.
		os.Exit(runCrashChild(dir))
	}
	goleak.VerifyTestMain(m)
}
