package runtime

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// flakyStorage fails every PutFile while failing is set.
type flakyStorage struct {
	*state.DirStorage
	failing atomic.Bool
	failed  atomic.Int32
}

var errDiskFull = errors.New("no space left on device")

func (s *flakyStorage) PutFile(ctx context.Context, name string, r io.Reader) (int64, error) {
	if s.failing.Load() {
		s.failed.Add(1)
		return 0, errDiskFull
	}
	return s.DirStorage.PutFile(ctx, name, r)
}

// TestCheckpointFailureKeepsTopologyRunning makes checkpoint storage fail
// for a while: those checkpoints fail cleanly, the topology keeps running
// and counting, and once storage recovers the next checkpoint completes.
func TestCheckpointFailureKeepsTopologyRunning(t *testing.T) {
	ds, err := state.NewDirStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storage := &flakyStorage{DirStorage: ds}
	storage.failing.Store(true)
	res := &eoResult{counts: map[string]int64{}, violations: map[string]int64{}}
	exhausted := &exhaustion{tasks: map[topology.TaskID]bool{}}
	var never atomic.Bool
	b := topology.NewBuilder("flaky-storage")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 20 * time.Millisecond})
	b.SetSpout("seq", func() topology.Spout {
		return &replaySpout{n: 1 << 30, keys: 10, exhausted: exhausted, completed: true, slow: true}
	}, 1).Output("key", "seq")
	b.SetBolt("check", func() topology.Bolt {
		return &countingChecker{keys: 10, spoutTasks: 1, failArmed: &never, result: res}
	}, 2).FieldsFrom("seq", "key")
	reg := newTestRegistry()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(context.Background(), topo, Options{Logger: testLogger(t), Registerer: reg, StateDir: t.TempDir(), Checkpoints: storage})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop(context.Background())
	eventually(t, 10*time.Second, "three failed checkpoints", func() bool {
		return counterSum(t, reg, "gale_checkpoint_failed_total", nil) >= 3
	})
	if n := counterSum(t, reg, "gale_checkpoint_completed_total", nil); n != 0 {
		t.Fatalf("%v checkpoints completed while storage failed every write", n)
	}
	executed := counterSum(t, reg, "gale_executor_executed_tuples_total", nil)
	storage.failing.Store(false)
	eventually(t, 10*time.Second, "a checkpoint after storage recovered", func() bool {
		return counterSum(t, reg, "gale_checkpoint_completed_total", nil) >= 1
	})
	if after := counterSum(t, reg, "gale_executor_executed_tuples_total", nil); after <= executed {
		t.Errorf("the topology stopped processing: %v tuples executed before recovery, %v after", executed, after)
	}
	if l.Err() != nil {
		t.Errorf("the topology failed: %v", l.Err())
	}
	if _, err := state.LatestCheckpoint(context.Background(), storage); err != nil {
		t.Errorf("no complete checkpoint in storage after recovery: %v", err)
	}
}
