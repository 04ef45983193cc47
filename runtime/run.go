package runtime

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/topology"
)

// Options says how this process runs a topology.
type Options struct {
	// Logger receives the runtime's logs, with topology, component and task
	// attributes. Default: slog.Default().
	Logger *slog.Logger
	// Registerer receives the runtime's metrics. Default: none are exported.
	Registerer prometheus.Registerer
	// StateDir is where keyed state lives. Default: a temporary directory,
	// removed when the topology stops.
	StateDir string
}

// Run runs t in this process until ctx is cancelled, then stops it
// gracefully: spouts first, then in-flight tuple trees drain, then bolts
// clean up. No goroutine it started outlives it.
func Run(ctx context.Context, t *topology.Topology, opts Options) error {
	l, err := Start(ctx, t, opts)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return l.Stop(context.Background())
}
