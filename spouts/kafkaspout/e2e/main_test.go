// Package e2e runs the Kafka spout and sink inside real topologies on the
// in-process runtime, against a kfake broker. It is a separate package so
// the spout's own tests do not depend on the runtime.
package e2e

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		// The test binary re-executed as the topology process of
		// TestExactlyOnceKafkaUnderCrashes.
		os.Exit(runKafkaCrashChild(dir, os.Getenv(crashBrokersEnv)))
	}
	goleak.VerifyTestMain(m)
}
