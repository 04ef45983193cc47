package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/promreg"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// Options says how this process runs a topology.
type Options struct {
	// Logger receives the runtime's logs, with topology, component and task
	// attributes. Default: slog.Default().
	Logger *slog.Logger
	// Registerer receives the runtime's metrics. Default: none are exported.
	Registerer prometheus.Registerer
	// StateDir is where the worker's keyed state (one Pebble database)
	// lives. Default: a temporary directory, removed when the topology
	// stops. State survives a restart only through checkpoints.
	StateDir string

	// Checkpoints is where an ExactlyOnce topology writes its checkpoints,
	// and where Start looks for the last complete one to restore. Default:
	// a directory "checkpoints" under StateDir when StateDir is set, and
	// none otherwise: without StateDir or Checkpoints, an ExactlyOnce
	// topology checkpoints into its temporary directory and so restores
	// only after a failure within the same run.
	Checkpoints state.CheckpointStorage

	// Space is where an ExactlyOnce topology keeps its checkpoints when
	// they must outlive this process's machine or be shared by several
	// workers: this worker's in namespace "worker-INDEX" (worker-0 without
	// a plan), the records of checkpoints complete on every worker in
	// "commits". Every worker of the topology must see the same space (a
	// state.DirSpace on a shared directory, or the cluster's replicated
	// storage). It is required for a topology placed in several workers;
	// with one worker it is optional, and a rebalance between one and
	// several workers restores either way. Checkpoints is ignored when
	// Space is set.
	Space state.CheckpointSpace

	// sess is set by runSessions for the Local of one session.
	sess *sessionInfo

	// Epoch is the assignment epoch this process runs under; checkpoints
	// written under a newer epoch fence this one off (see state.ErrFenced).
	Epoch uint64

	// Worker places the topology's tasks in several worker processes, of
	// which this is one. Default: every task runs in this process.
	Worker *WorkerPlan
}

// Run runs t in this process until ctx is cancelled, then stops it
// gracefully: spouts first, then in-flight tuple trees drain, then bolts
// clean up. No goroutine it started outlives it.
//
// An ExactlyOnce topology that fails (a tuple failed, a bolt panicked) is
// restarted from its last complete checkpoint, with a backoff that grows
// from 100ms to 30s, until ctx is cancelled: every task restores its state
// and spouts rewind, so the state reflects every input exactly once.
//
// An ExactlyOnce topology placed in several workers runs in sessions (see
// Options.Space): worker 0 leads the checkpoints of every worker, and a
// failure anywhere restarts every worker from the last checkpoint complete
// on all of them. Run it with Run, not Start.
func Run(ctx context.Context, t *topology.Topology, opts Options) error {
	if t.Config().Guarantee == topology.ExactlyOnce && opts.Worker != nil && len(opts.Worker.Workers) > 1 {
		return runSessions(ctx, t, opts)
	}
	if t.Config().Guarantee == topology.ExactlyOnce && opts.StateDir == "" {
		// Restarts restore from the state directory, so it must outlive
		// each attempt.
		dir, err := os.MkdirTemp("", "gale-state-")
		if err != nil {
			return fmt.Errorf("runtime: topology %s: state directory: %w", t.Name(), err)
		}
		defer os.RemoveAll(dir)
		opts.StateDir = dir
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	restarts, err := newRestartCounter(opts.Registerer, t.Name())
	if err != nil {
		return fmt.Errorf("runtime: topology %s: register metrics: %w", t.Name(), err)
	}
	backoff := 100 * time.Millisecond
	for {
		l, err := Start(ctx, t, opts)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return l.Stop(context.Background())
		case <-l.Done():
		}
		err = l.Err()
		if err == nil || t.Config().Guarantee != topology.ExactlyOnce {
			return err
		}
		logger.Warn("restarting topology from its last checkpoint", "topology", t.Name(), "err", err, "backoff", backoff)
		restarts.Inc()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// newRestartCounter returns the counter of restarts from a checkpoint.
func newRestartCounter(reg prometheus.Registerer, topo string) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "gale", Subsystem: "topology", Name: "restarts_total",
		Help: "Times this worker restarted the topology from its last complete checkpoint after a failure (exactly-once only).",
	})
	if reg == nil {
		return c, nil
	}
	var err error
	c = promreg.Register(prometheus.WrapRegistererWith(prometheus.Labels{"topology": topo}, reg), c, &err)
	return c, err
}
