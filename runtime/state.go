package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// snapshotState names the operator state under which a task keeps the
// bytes its spout or bolt returned from Checkpointer.Snapshot.
const snapshotState = "__snapshot"

// openState opens the worker's state store and checkpoint storage, and
// restores the last complete checkpoint when there is one. It runs in Start
// before any task opens, for ExactlyOnce topologies; other topologies open
// the store on first use (see taskServices).
func (l *Local) openState(ctx context.Context, opts Options) error {
	dir := opts.StateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gale-state-")
		if err != nil {
			return fmt.Errorf("runtime: topology %s: state directory: %w", l.topo.Name(), err)
		}
		dir = tmp
		l.removeStateDir = tmp
	}
	st, err := state.Open(filepath.Join(dir, "pebble"), state.Options{Logger: l.log, Registerer: opts.Registerer, Epoch: opts.Epoch})
	if err != nil {
		return fmt.Errorf("runtime: topology %s: %w", l.topo.Name(), err)
	}
	l.store = st
	l.storage = opts.Checkpoints
	if opts.Space != nil && opts.sess == nil && l.cfg.Guarantee == topology.ExactlyOnce {
		// One worker in a shared space: the same layout as several, so
		// that a later rebalance to more workers (or back) restores.
		return l.openSpace(ctx, opts)
	}
	if l.storage == nil {
		ds, err := state.NewDirStorage(filepath.Join(dir, "checkpoints"))
		if err != nil {
			return fmt.Errorf("runtime: topology %s: %w", l.topo.Name(), err)
		}
		l.storage = ds
	}
	if l.cfg.Guarantee != topology.ExactlyOnce {
		return nil
	}
	if si := opts.sess; si != nil {
		return l.restoreSession(ctx, si)
	}
	m, err := state.LatestCheckpoint(ctx, l.storage)
	if errors.Is(err, state.ErrNotFound) {
		// A first start, or a restart before any checkpoint completed. The
		// local database may still hold state of a run that crashed while
		// taking its first checkpoint (Store.Checkpoint flushes the memtable
		// before it uploads), which no complete checkpoint covers while the
		// spouts start from scratch: start every scope empty.
		if err := l.store.RestoreFrom(ctx, l.scopes()); err != nil {
			return fmt.Errorf("runtime: topology %s: clear state of no checkpoint: %w", l.topo.Name(), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("runtime: topology %s: find last checkpoint: %w", l.topo.Name(), err)
	}
	if err := l.store.Restore(ctx, l.storage, m.ID, l.scopes()); err != nil {
		return fmt.Errorf("runtime: topology %s: restore checkpoint %d: %w", l.topo.Name(), m.ID, err)
	}
	l.restoredFrom = m.ID
	l.log.Info("restored checkpoint", "checkpoint", m.ID, "bytes", m.TotalBytes)
	return nil
}

// openSpace opens this lone worker's namespace of opts.Space and restores
// the last checkpoint recorded as complete there, which may have been
// taken by several workers before a rebalance; each completed checkpoint
// is recorded for the same reason (see coordinator.commit).
func (l *Local) openSpace(ctx context.Context, opts Options) error {
	index := 0
	if opts.Worker != nil {
		index = opts.Worker.Index
	}
	var err error
	if l.storage, err = opts.Space.Namespace(ctx, namespaceOf(index)); err != nil {
		return fmt.Errorf("runtime: topology %s: checkpoint namespace: %w", l.topo.Name(), err)
	}
	commits, err := opts.Space.Namespace(ctx, commitsNamespace)
	if err != nil {
		return fmt.Errorf("runtime: topology %s: commits namespace: %w", l.topo.Name(), err)
	}
	l.coord.commit = func(ctx context.Context, id uint64) error {
		return writeCommit(ctx, commits, commitRecord{ID: id, Namespaces: []string{namespaceOf(index)}}, l.log)
	}
	id, err := lastCommit(ctx, commits)
	if err != nil {
		return fmt.Errorf("runtime: topology %s: find last checkpoint: %w", l.topo.Name(), err)
	}
	sources, err := commitSources(ctx, opts.Space, id)
	if err != nil {
		return fmt.Errorf("runtime: topology %s: %w", l.topo.Name(), err)
	}
	// Checkpoint ids continue after everything in this namespace, also
	// checkpoints taken but never recorded as complete.
	if ids, err := l.storage.ListManifests(ctx); err == nil && len(ids) > 0 {
		l.coord.floor = ids[len(ids)-1]
	}
	return l.restoreSession(ctx, &sessionInfo{restore: id, sources: sources})
}

// restoreSession restores the checkpoint a session starts from: the parts
// every worker stored of it, of which each task takes its own key groups.
func (l *Local) restoreSession(ctx context.Context, si *sessionInfo) error {
	if err := l.store.RestoreFrom(ctx, l.scopes(), si.sources...); err != nil {
		return fmt.Errorf("runtime: topology %s: restore checkpoint %d: %w", l.topo.Name(), si.restore, err)
	}
	if si.restore != 0 {
		l.store.SetCommitted(si.restore)
		l.restoredFrom = si.restore
		l.log.Info("restored checkpoint", "checkpoint", si.restore, "sources", len(si.sources))
	}
	return nil
}

// scopes lists what every task of this process owns.
func (l *Local) scopes() []state.Scope {
	var out []state.Scope
	for _, c := range l.topo.Components() {
		for i, task := range c.Tasks {
			if l.inboxes != nil && l.inboxes[task] == nil {
				continue // another worker's
			}
			out = append(out, l.scope(c, i))
		}
	}
	return out
}

func (l *Local) scope(c *topology.Component, index int) state.Scope {
	return state.Scope{
		Topology:       l.topo.Name(),
		Component:      string(c.ID),
		Task:           index,
		Groups:         keygroup.RangeOf(index, c.Parallelism, l.cfg.MaxParallelism),
		MaxParallelism: l.cfg.MaxParallelism,
	}
}

// closeState closes the store and removes a temporary state directory.
func (l *Local) closeState() {
	if l.store != nil {
		if err := l.store.Close(); err != nil {
			l.log.Warn("close state store", "err", err)
		}
	}
	if l.removeStateDir != "" {
		if err := os.RemoveAll(l.removeStateDir); err != nil {
			l.log.Warn("remove state directory", "dir", l.removeStateDir, "err", err)
		}
	}
}

// taskServices is what the runtime offers a task through
// topology.Context.Services.
type taskServices struct{ e *executor }

// Registerer returns the registry the runtime exports metrics to, so that
// spouts and bolts can add their own (nil: metrics are not exported).
func (s taskServices) Registerer() prometheus.Registerer { return s.e.l.opts.Registerer }

// StateBackend returns the task's keyed state, opening it on first use. It
// returns nil when the worker has no state store (see Options.StateDir).
func (s taskServices) StateBackend() *state.Backend {
	b, err := s.e.stateBackend()
	if err != nil {
		s.e.reportError(err)
		return nil
	}
	return b
}

// stateBackend opens the task's Backend on first use. It runs on the task's
// goroutine (or in Start, before the goroutine exists).
func (e *executor) stateBackend() (*state.Backend, error) {
	if e.backend != nil {
		return e.backend, nil
	}
	if err := e.l.lazyState(); err != nil {
		return nil, err
	}
	b, err := e.l.store.Task(e.l.scope(e.comp, e.tc.Index))
	if err != nil {
		return nil, fmt.Errorf("runtime: %s task %d: keyed state: %w", e.comp.ID, e.task, err)
	}
	e.backend = b
	return b, nil
}

// lazyState opens the store for topologies that did not open it at start.
func (l *Local) lazyState() error {
	l.stateOnce.Do(func() {
		if l.store == nil {
			l.stateErr = l.openState(context.Background(), l.opts)
		}
	})
	return l.stateErr
}

// restoreSnapshot hands a Checkpointer its snapshot from the restored
// checkpoint, if it has one.
func (e *executor) restoreSnapshot() error {
	if e.l.restoredFrom == 0 {
		return nil
	}
	cp, ok := e.component().(topology.Checkpointer)
	if !ok {
		return nil
	}
	b, err := e.stateBackend()
	if err != nil {
		return err
	}
	snap, err := state.NewOperatorValue[[]byte](b, snapshotState).Get()
	if err != nil {
		if err == state.ErrNotFound {
			return nil
		}
		return fmt.Errorf("runtime: %s task %d: read snapshot: %w", e.comp.ID, e.task, err)
	}
	if err := cp.Restore(snap); err != nil {
		return fmt.Errorf("runtime: %s task %d: restore checkpoint %d: %w", e.comp.ID, e.task, e.l.restoredFrom, err)
	}
	return nil
}

// component returns the task's spout or bolt.
func (e *executor) component() any {
	if e.spout != nil {
		return e.spout
	}
	return e.bolt
}
