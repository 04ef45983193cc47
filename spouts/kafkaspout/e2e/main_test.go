// Package e2e runs the Kafka spout and sink inside real topologies on the
// in-process runtime, against a kfake broker. It is a separate package so
// the spout's own tests do not depend on the runtime.
package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
