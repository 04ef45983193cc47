package runtime

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// replaySpout emits (key, seq) for seq in [0, n) per task, with key
// "t<index>-k<seq mod keys>". It is replayable: its snapshot is its
// position, and Restore rewinds to it.
type replaySpout struct {
	n, keys   int
	pos       int
	completed bool // a checkpoint completed: the second half may go out
	slow      bool // emit at most 16 tuples a millisecond
	// eventTime adds a third value, the event time: seq milliseconds after
	// the Unix epoch. After the last tuple each task emits one of key
	// "__end" an hour later, whose watermark closes every window.
	eventTime bool
	endSent   bool
	tc        *topology.Context
	exhausted *exhaustion
}

type exhaustion struct {
	mu       sync.Mutex
	tasks    map[topology.TaskID]bool
	restored []int // positions spout tasks were restored to
}

func (x *exhaustion) mark(t topology.TaskID) {
	x.mu.Lock()
	x.tasks[t] = true
	x.mu.Unlock()
}

func (x *exhaustion) count() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.tasks)
}

func (s *replaySpout) Open(_ context.Context, tc *topology.Context) error { s.tc = tc; return nil }
func (s *replaySpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	if s.slow {
		time.Sleep(time.Millisecond)
	}
	for range 16 {
		if s.pos >= s.n {
			if s.eventTime && !s.endSent {
				out.Emit(topology.Values{"__end", int64(s.pos), int64(s.pos) + 3_600_000}, nil)
				s.endSent = true
			}
			s.exhausted.mark(s.tc.Task)
			return nil
		}
		if s.pos >= s.n/2 && !s.completed {
			return nil // hold the second half until a checkpoint covers the first
		}
		key := fmt.Sprintf("t%d-k%d", s.tc.Index, s.pos%s.keys)
		if s.eventTime {
			out.Emit(topology.Values{key, int64(s.pos), int64(s.pos)}, nil)
		} else {
			out.Emit(topology.Values{key, int64(s.pos)}, nil)
		}
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
	s.endSent = false
	s.exhausted.mu.Lock()
	s.exhausted.restored = append(s.exhausted.restored, s.pos)
	s.exhausted.mu.Unlock()
	return nil
}
func (s *replaySpout) CheckpointComplete(uint64) { s.completed = true }

// countingChecker counts tuples per key in keyed state, and checks that the
// sequence numbers of each key arrive without gap or duplicate, counting
// violations in keyed state too. It fails once (a panic) after the first
// checkpoint completed, if failAfter > 0.
type countingChecker struct {
	keys, spoutTasks, n int
	failArmed           *atomic.Bool
	result              *eoResult
	completed           bool
	seen                int

	tc         *topology.Context
	count      *state.Counter
	last       *state.Value[int64]
	violations *state.Counter
}

// eoResult holds what the checker tasks held at their last Cleanup. Each
// attempt's Cleanup overwrites the keys it owns, so the last attempt wins.
type eoResult struct {
	mu         sync.Mutex
	counts     map[string]int64
	violations map[string]int64
}

func (b *countingChecker) Prepare(_ context.Context, tc *topology.Context) error {
	b.tc = tc
	be, err := state.BackendOf(tc)
	if err != nil {
		return err
	}
	b.count = state.NewCounter(be, "count")
	b.last = state.NewValue[int64](be, "last")
	b.violations = state.NewCounter(be, "violations")
	return nil
}

func (b *countingChecker) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	if t.String("key") == "__end" {
		return nil
	}
	b.seen++
	if b.completed && b.failArmed.CompareAndSwap(true, false) {
		panic("injected failure")
	}
	seq := t.Int64("seq")
	last, err := b.last.Get()
	if err == state.ErrNotFound {
		last = seq - int64(b.keys) // the first of the key
		if seq >= int64(b.keys) {
			last = -1 // a gap: the key's first tuples are missing
		}
	} else if err != nil {
		return err
	}
	if seq != last+int64(b.keys) {
		if _, err := b.violations.Add(1); err != nil {
			return err
		}
	}
	if err := b.last.Set(seq); err != nil {
		return err
	}
	_, err = b.count.Add(1)
	return err
}

func (b *countingChecker) Cleanup() error {
	be, err := state.BackendOf(b.tc)
	if err != nil {
		return err
	}
	b.result.mu.Lock()
	defer b.result.mu.Unlock()
	for task := range b.spoutTasks {
		for k := range b.keys {
			key := fmt.Sprintf("t%d-k%d", task, k)
			if err := be.SetCurrentKey(keyOf(key)); err != nil {
				continue // another task's key group
			}
			n, err := b.count.Get()
			if err != nil {
				return err
			}
			b.result.counts[key] = n
			v, err := b.violations.Get()
			if err != nil {
				return err
			}
			b.result.violations[key] = v
		}
	}
	return nil
}

func (b *countingChecker) Snapshot(uint64) ([]byte, error) { return nil, nil }
func (b *countingChecker) Restore([]byte) error            { return nil }
func (b *countingChecker) CheckpointComplete(uint64)       { b.completed = true }

// TestExactlyOnceRestoresAfterFailure injects a failure after the first
// checkpoint: the topology restarts from its last checkpoint, and the final
// keyed counts equal the ground truth exactly, with no sequence gap or
// duplicate seen by the checker.
func TestExactlyOnceRestoresAfterFailure(t *testing.T) {
	const n, keys, spoutTasks = 20000, 50, 2
	var failArmed atomic.Bool
	failArmed.Store(true)
	res := &eoResult{counts: map[string]int64{}, violations: map[string]int64{}}
	exhausted := &exhaustion{tasks: map[topology.TaskID]bool{}}
	b := topology.NewBuilder("exactly-once")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 20 * time.Millisecond})
	b.SetSpout("seq", func() topology.Spout { return &replaySpout{n: n, keys: keys, exhausted: exhausted} }, spoutTasks).Output("key", "seq")
	b.SetBolt("check", func() topology.Bolt {
		return &countingChecker{keys: keys, spoutTasks: spoutTasks, n: n, failArmed: &failArmed, result: res}
	}, 3).FieldsFrom("seq", "key")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, topo, Options{Logger: testLogger(t), StateDir: t.TempDir()}) }()
	eventually(t, 20*time.Second, "the injected failure and every spout task exhausted afterwards", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if failArmed.Load() {
			exhausted.mu.Lock()
			clear(exhausted.tasks)
			exhausted.mu.Unlock()
			return false
		}
		return exhausted.count() == spoutTasks
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	exhausted.mu.Lock()
	restored := exhausted.restored
	exhausted.mu.Unlock()
	if len(restored) != spoutTasks || restored[0] == 0 {
		t.Errorf("spout tasks restored to positions %v; want both restored past the start", restored)
	}
	checkExact(t, res, n, keys, spoutTasks)
}

func keyOf(s string) []byte { return keygroupKey(s) }

// TestExactlyOnceRestartKeepsMetrics restarts a failed exactly-once
// topology in the same process with one metrics registry: the restart must
// reuse the collectors registered by the first attempt, not fail on them.
func TestExactlyOnceRestartKeepsMetrics(t *testing.T) {
	var failArmed atomic.Bool
	failArmed.Store(true)
	res := &eoResult{counts: map[string]int64{}, violations: map[string]int64{}}
	exhausted := &exhaustion{tasks: map[topology.TaskID]bool{}}
	b := topology.NewBuilder("restart-metrics")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 20 * time.Millisecond})
	b.SetSpout("seq", func() topology.Spout { return &replaySpout{n: 2000, keys: 10, exhausted: exhausted} }, 1).Output("key", "seq")
	b.SetBolt("check", func() topology.Bolt {
		return &countingChecker{keys: 10, spoutTasks: 1, failArmed: &failArmed, result: res}
	}, 2).FieldsFrom("seq", "key")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	reg := newTestRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, topo, Options{Logger: testLogger(t), StateDir: t.TempDir(), Registerer: reg}) }()
	eventually(t, 20*time.Second, "a restart and the input exhausted after it", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if failArmed.Load() {
			return false
		}
		return exhausted.count() == 1 && counterSum(t, reg, "gale_checkpoint_completed_total", nil) > 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := counterSum(t, reg, "gale_executor_panics_total", nil); n != 1 {
		t.Errorf("counted %v panics across the restart, want 1", n)
	}
}
