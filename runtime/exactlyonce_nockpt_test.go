package runtime

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// idleSpout emits nothing; it counts the snapshots restored into it.
type idleSpout struct{ restored *int }

func (s *idleSpout) Open(context.Context, *topology.Context) error { return nil }
func (s *idleSpout) Next(context.Context, topology.SpoutEmitter) error {
	time.Sleep(time.Millisecond)
	return nil
}
func (s *idleSpout) Ack(any)                         {}
func (s *idleSpout) Fail(any)                        {}
func (s *idleSpout) Close() error                    { return nil }
func (s *idleSpout) Snapshot(uint64) ([]byte, error) { return []byte("pos"), nil }
func (s *idleSpout) Restore([]byte) error            { *s.restored++; return nil }
func (s *idleSpout) CheckpointComplete(uint64)       {}

// countReader reads the counter of key "k" when it is prepared.
type countReader struct{ got *int64 }

func (b *countReader) Prepare(_ context.Context, tc *topology.Context) error {
	be, err := state.BackendOf(tc)
	if err != nil {
		return err
	}
	if err := be.SetCurrentKey(keygroup.AppendKey(nil, "k")); err != nil {
		return err
	}
	*b.got, err = state.NewCounter(be, "n").Get()
	return err
}
func (b *countReader) Execute(context.Context, topology.Tuple, topology.Emitter) error { return nil }
func (b *countReader) Cleanup() error                                                  { return nil }

// TestExactlyOnceIgnoresStateNoCheckpointCovers starts an exactly-once
// topology on a state directory whose database holds keyed and operator
// state but whose checkpoint storage holds no complete checkpoint: what a
// run killed during its first checkpoint leaves (Store.Checkpoint flushed
// the memtable, the upload never finished). The spouts start from scratch,
// so the keyed state must start empty too, or the replayed input is counted
// twice.
func TestExactlyOnceIgnoresStateNoCheckpointCovers(t *testing.T) {
	dir := t.TempDir()
	const topo = "nockpt"
	st, err := state.Open(filepath.Join(dir, "pebble"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	scope := func(comp string) state.Scope {
		return state.Scope{
			Topology: topo, Component: comp, Task: 0,
			Groups:         keygroup.RangeOf(0, 1, topology.DefaultMaxParallelism),
			MaxParallelism: topology.DefaultMaxParallelism,
		}
	}
	bolt, err := st.Task(scope("count"))
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.SetCurrentKey(keygroup.AppendKey(nil, "k")); err != nil {
		t.Fatal(err)
	}
	if _, err := state.NewCounter(bolt, "n").Add(5); err != nil {
		t.Fatal(err)
	}
	spout, err := st.Task(scope("src"))
	if err != nil {
		t.Fatal(err)
	}
	if err := state.NewOperatorValue[[]byte](spout, snapshotState).Set([]byte("pos")); err != nil {
		t.Fatal(err)
	}
	for _, be := range []*state.Backend{bolt, spout} {
		if err := be.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := be.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	restored := 0
	got := int64(-1)
	b := topology.NewBuilder(topo)
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 20 * time.Millisecond})
	b.SetSpout("src", func() topology.Spout { return &idleSpout{restored: &restored} }, 1).Output("k")
	b.SetBolt("count", func() topology.Bolt { return &countReader{got: &got} }, 1).FieldsFrom("src", "k")
	tp, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(t.Context(), tp, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got != 0 {
		t.Errorf("the bolt's keyed state holds count %d from no complete checkpoint, want 0", got)
	}
	if restored != 0 {
		t.Errorf("the spout was restored %d times without a checkpoint", restored)
	}
}
