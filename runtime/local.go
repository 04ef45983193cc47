package runtime

import (
	"context"
	"errors"

	"github.com/gale-stream/gale/topology"
)

// Local is a topology running in this process.
type Local struct{}

// Start starts every task of t and returns once they are running.
func Start(ctx context.Context, t *topology.Topology, opts Options) (*Local, error) {
	return nil, errors.New("runtime: not implemented yet")
}

// Stop stops the topology gracefully, bounded by ctx.
func (l *Local) Stop(ctx context.Context) error { return nil }
