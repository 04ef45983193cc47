package window

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/runtime/runtimetest"
	"github.com/gale-stream/gale/topology"
)

// replaySpout emits n in-order event-time tuples (k, ts, v) and rewinds on
// restore. It holds back the second half until a checkpoint covers the
// first, so the injected failure lands after a checkpoint.
type replaySpout struct {
	n, pos    int
	completed bool
	done      *atomic.Bool
	restored  *atomic.Int64
}

var replayKeys = []string{"a", "b", "c", "d", "e"}

func (s *replaySpout) Open(context.Context, *topology.Context) error { return nil }
func (s *replaySpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	for range 16 {
		if s.pos >= s.n {
			s.done.Store(true)
			return nil
		}
		if s.pos >= s.n/2 && !s.completed {
			return nil
		}
		out.Emit(topology.Values{replayKeys[s.pos%len(replayKeys)], int64(s.pos / 4), int64(1)}, nil)
		s.pos++
	}
	return nil
}
func (s *replaySpout) Ack(any)      {}
func (s *replaySpout) Fail(any)     {}
func (s *replaySpout) Close() error { return nil }
func (s *replaySpout) Snapshot(uint64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(s.pos)), nil
}
func (s *replaySpout) Restore(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("bad snapshot of %d bytes", len(b))
	}
	s.pos = int(binary.BigEndian.Uint64(b))
	s.restored.Add(1)
	return nil
}
func (s *replaySpout) CheckpointComplete(uint64) { s.completed = true }

// failingWindow is a window bolt that panics once, on a tuple after a
// checkpoint completed.
type failingWindow struct {
	*bolt
	armed     *atomic.Bool
	completed bool
}

func (f *failingWindow) Execute(ctx context.Context, t topology.Tuple, out topology.Emitter) error {
	if f.completed && f.armed.CompareAndSwap(true, false) {
		panic("injected failure")
	}
	return f.bolt.Execute(ctx, t, out)
}
func (f *failingWindow) Snapshot(uint64) ([]byte, error) { return nil, nil }
func (f *failingWindow) Restore([]byte) error            { return nil }
func (f *failingWindow) CheckpointComplete(uint64)       { f.completed = true }

// TestWindowExactlyOnceAfterFailure runs a keyed event-time count under
// the exactly-once guarantee and fails it once after a checkpoint. The
// runtime restores the window state and the spout position of that
// checkpoint and replays; windows that fired after it fire again, but every
// window's result must be its exact count — never one counted twice or
// missing tuples.
func TestWindowExactlyOnceAfterFailure(t *testing.T) {
	const n = 8000
	var armed, done atomic.Bool
	var restored atomic.Int64
	armed.Store(true)
	var mu sync.Mutex
	// Results emitted between the failure and the restart are not covered
	// by a checkpoint: a window may fire there without the tuple that
	// failed, as a sink that is not transactional would show. The test
	// therefore sorts emissions into before the failure, in between, and
	// after the restore; the first and last must be exact.
	type emitted struct {
		count int64
		phase string
	}
	results := map[string][]emitted{} // "key start" → emissions
	b := topology.NewBuilder("window-eo")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 20 * time.Millisecond})
	b.SetSpout("in", func() topology.Spout { return &replaySpout{n: n, done: &done, restored: &restored} }, 1).
		Output("k", "ts", "v").
		EventTime(topology.EventTime{Field: "ts", Interval: 5 * time.Millisecond})
	counts := Count(Config{KeyFields: []string{"k"}, Assigner: Tumbling(10 * time.Millisecond), TimeField: "ts",
		InputFields: []string{"k", "ts", "v"}})
	b.SetBolt("counts", func() topology.Bolt {
		return &failingWindow{bolt: counts().(*bolt), armed: &armed}
	}, 2).FieldsFrom("in", "k")
	b.SetBolt("sink", topology.BasicFunc(func(_ context.Context, t topology.Tuple, _ topology.BasicEmitter) error {
		mu.Lock()
		defer mu.Unlock()
		k := fmt.Sprint(t.String("k"), " ", t.Int64(StartField))
		phase := "before"
		switch {
		case restored.Load() > 0:
			phase = "after"
		case !armed.Load():
			phase = "between"
		}
		results[k] = append(results[k], emitted{t.Int64(CountField), phase})
		return nil
	}).Factory(), 1).GlobalFrom("counts")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- runtime.Run(ctx, topo, runtime.Options{Logger: runtimetest.Logger(t), StateDir: t.TempDir()})
	}()
	runtimetest.Eventually(t, 30*time.Second, "the failure, the restore and the whole input", func() bool {
		return !armed.Load() && restored.Load() > 0 && done.Load()
	})
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := map[string]int64{}
	for i := range n {
		want[fmt.Sprint(replayKeys[i%len(replayKeys)], " ", int64(i/4)/10*10)]++
	}
	refired := 0
	for k, w := range want {
		exact := 0
		for _, e := range results[k] {
			if e.phase == "between" {
				continue
			}
			if e.count != w {
				t.Errorf("window %s: count %d emitted %s the failure, want %d (all emissions %v)", k, e.count, e.phase, w, results[k])
			}
			exact++
		}
		if exact == 0 {
			t.Errorf("window %s: no result outside the failure (emissions %v)", k, results[k])
		}
		if exact > 1 {
			refired++
		}
	}
	for k, got := range results {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected window %s: %v", k, got)
		}
	}
	t.Logf("%d windows, %d fired again after the restore", len(want), refired)
}
