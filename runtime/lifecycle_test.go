package runtime

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

// endlessSpout emits a fresh 1 KiB payload on every call, as fast as it may.
type endlessSpout struct {
	reliable bool
	emitted  *atomic.Int64
	seq      int64
}

func (s *endlessSpout) Open(context.Context, *topology.Context) error { return nil }
func (s *endlessSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	for range 8 {
		s.seq++
		var id any
		if s.reliable {
			id = s.seq
		}
		out.Emit(topology.Values{s.seq, make([]byte, 1024)}, id)
		s.emitted.Add(1)
	}
	return nil
}
func (s *endlessSpout) Ack(any)      {}
func (s *endlessSpout) Fail(any)     {}
func (s *endlessSpout) Close() error { return nil }

// TestSlowBoltBackpressuresSpout runs an untracked topology (so max pending
// does not help) whose last bolt is slow: the spout must be held back by the
// full queues, keeping the tuples in flight and the heap bounded.
func TestSlowBoltBackpressuresSpout(t *testing.T) {
	var emitted, executed atomic.Int64
	b := topology.NewBuilder("backpressure")
	b.SetConfig(topology.Config{Guarantee: topology.AtMostOnce, QueueSize: 256, BatchSize: 32})
	b.SetSpout("fast", func() topology.Spout { return &endlessSpout{emitted: &emitted} }, 1).Output("n", "payload")
	b.SetBolt("pass", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		out.Emit(t.Values())
		return nil
	}).Factory(), 2).ShuffleFrom("fast").Output("n", "payload")
	b.SetBolt("slow", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		time.Sleep(50 * time.Microsecond)
		executed.Add(1)
		return nil
	}).Factory(), 1).ShuffleFrom("pass")
	reg := newTestRegistry()
	startTopology(t, b, Options{Registerer: reg})

	// Queues: pass has 2 tasks × 256, slow has 256; each producer may hold
	// one partial batch per destination. Anything past that would be
	// unbounded buffering.
	const bound = 2*256 + 256 + 2*32 + 2*32 + 64
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	maxGap, maxHeap := int64(0), uint64(0)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		gap := emitted.Load() - executed.Load()
		maxGap = max(maxGap, gap)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		maxHeap = max(maxHeap, ms.HeapAlloc)
	}
	if executed.Load() < 1000 {
		t.Fatalf("slow bolt executed only %d tuples", executed.Load())
	}
	if maxGap > bound {
		t.Errorf("up to %d tuples between spout and slow bolt, want at most %d", maxGap, bound)
	}
	// 1 KiB per tuple: a bounded pipeline holds about a megabyte.
	if grew := int64(maxHeap) - int64(base.HeapAlloc); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB while the spout was held back", grew>>20)
	}
	if bp := counterSum(t, reg, "gale_executor_backpressure_seconds_total", map[string]string{"component": "fast"}); bp <= 0 {
		t.Error("the spout never recorded time blocked by backpressure")
	}
	t.Logf("emitted %d, executed %d, largest gap %d, heap %d MiB", emitted.Load(), executed.Load(), maxGap, maxHeap>>20)
}

// TestPanicFailsTupleAndTaskSurvives panics on every tenth tuple.
func TestPanicFailsTupleAndTaskSurvives(t *testing.T) {
	rec := newSpoutRecord()
	b := topology.NewBuilder("panics")
	b.SetSpout("nums", func() topology.Spout {
		return &seqSpout{n: 100, reliable: true, noRetry: true, rec: rec, batch: 10}
	}, 1).Output("n")
	out := newSink()
	b.SetBolt("boom", topology.BasicFunc(func(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
		if t.Int64("n")%10 == 0 {
			panic("boom")
		}
		out.Emit(t.Values())
		return nil
	}).Factory(), 1).ShuffleFrom("nums").Output("n")
	b.SetBolt("sink", out.factory(), 1).ShuffleFrom("boom")
	reg := newTestRegistry()
	l := startTopology(t, b, Options{Registerer: reg})
	eventually(t, 5*time.Second, "all trees settled", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.acked)+rec.failed == 100
	})
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := counterSum(t, reg, "gale_executor_panics_total", map[string]string{"component": "boom"}); got != 10 {
		t.Errorf("counted %v panics, want 10", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.failed != 10 || len(rec.acked) != 90 || out.count() != 90 {
		t.Errorf("failed %d, acked %d, sink got %d; want 10, 90, 90", rec.failed, len(rec.acked), out.count())
	}
}

// lifecycleSpout emits until stopped and records that Close ran.
type lifecycleSpout struct {
	endlessSpout
	closed *atomic.Int32
	acked  *atomic.Int64
}

func (s *lifecycleSpout) Ack(any)      { s.acked.Add(1) }
func (s *lifecycleSpout) Close() error { s.closed.Add(1); return nil }

// TestGracefulStopDrainsInFlightTrees stops a busy at-least-once topology:
// every tree emitted must be acked before Stop returns, every spout closed and
// every bolt cleaned up after its last Execute.
func TestGracefulStopDrainsInFlightTrees(t *testing.T) {
	var emitted, acked atomic.Int64
	var closed, cleaned atomic.Int32
	var execAfterCleanup atomic.Bool
	b := topology.NewBuilder("graceful")
	b.SetConfig(topology.Config{MaxSpoutPending: 200})
	b.SetSpout("src", func() topology.Spout {
		return &lifecycleSpout{endlessSpout: endlessSpout{reliable: true, emitted: &emitted}, closed: &closed, acked: &acked}
	}, 2).Output("n", "payload")
	b.SetBolt("work", func() topology.Bolt {
		var done bool
		return &funcBolt{
			exec: func(t topology.Tuple, out topology.Emitter) error {
				if done {
					execAfterCleanup.Store(true)
				}
				out.Emit(topology.Values{t.Int64("n")}, t)
				out.Ack(t)
				return nil
			},
			cleanup: func() { done = true; cleaned.Add(1) },
		}
	}, 2).ShuffleFrom("src").Output("n")
	b.SetBolt("last", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		out.Ack(t)
		return nil
	}).Factory(), 1).ShuffleFrom("work")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(context.Background(), topo, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "traffic", func() bool { return acked.Load() > 1000 })
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e, a := emitted.Load(), acked.Load(); e != a {
		t.Errorf("emitted %d spout tuples, %d acked by the end of Stop", e, a)
	}
	if closed.Load() != 2 || cleaned.Load() != 2 {
		t.Errorf("closed %d spouts and cleaned up %d bolts, want 2 and 2", closed.Load(), cleaned.Load())
	}
	if execAfterCleanup.Load() {
		t.Error("a bolt executed a tuple after Cleanup")
	}
	select {
	case <-l.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestStopDeadlineAbandonsStuckTrees stops a topology whose bolt never acks:
// Stop gives up at its deadline, reports it, and still leaves no goroutine.
func TestStopDeadlineAbandonsStuckTrees(t *testing.T) {
	var emitted atomic.Int64
	b := topology.NewBuilder("stuck")
	b.SetSpout("src", func() topology.Spout { return &endlessSpout{reliable: true, emitted: &emitted} }, 1).Output("n", "payload")
	b.SetBolt("hoard", topology.BoltFunc(func(context.Context, topology.Tuple, topology.Emitter) error { return nil }).Factory(), 1).ShuffleFrom("src")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(context.Background(), topo, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "traffic", func() bool { return emitted.Load() > 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = l.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop returned %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "stuck") {
		t.Errorf("error %q does not name the topology", err)
	}
}

// TestStartErrorNamesTask fails one bolt's Prepare.
func TestStartErrorNamesTask(t *testing.T) {
	rec := newSpoutRecord()
	b := topology.NewBuilder("bad-start")
	b.SetSpout("nums", seqFactory(1, true, rec), 1).Output("n")
	b.SetBolt("broken", func() topology.Bolt { return &failingPrepare{} }, 1).ShuffleFrom("nums")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), topo, Options{Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "bad-start") {
		t.Fatalf("Start returned %v, want an error naming topology bad-start and component broken", err)
	}
	if !errors.Is(err, errPrepare) {
		t.Errorf("Start error %v does not wrap the bolt's error", err)
	}
}

var errPrepare = errors.New("no database")

type failingPrepare struct{ funcBolt }

func (f *failingPrepare) Prepare(context.Context, *topology.Context) error { return errPrepare }

func TestTickTuplesArrive(t *testing.T) {
	var ticks atomic.Int32
	b := topology.NewBuilder("ticks")
	b.SetSpout("idle", topology.SpoutFunc(func(context.Context, topology.SpoutEmitter) error { return nil }).Factory(), 1).Output("x")
	b.SetBolt("ticked", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		if topology.IsTick(t) {
			ticks.Add(1)
		}
		return nil
	}).Factory(), 2).ShuffleFrom("idle").Tick(10 * time.Millisecond)
	startTopology(t, b, Options{})
	eventually(t, 5*time.Second, "ten ticks", func() bool { return ticks.Load() >= 10 })
}

// TestDirectGroupingHonoursChosenTask sends value i to the (i mod 3)-th
// task of the subscriber.
func TestDirectGroupingHonoursChosenTask(t *testing.T) {
	b := topology.NewBuilder("direct")
	var mu sync.Mutex
	got := map[topology.TaskID][]int64{}
	b.SetSpout("src", func() topology.Spout {
		var tc *topology.Context
		n := int64(0)
		return &openSpout{
			open: func(c *topology.Context) { tc = c },
			next: func(out topology.SpoutEmitter) {
				if n >= 30 {
					return
				}
				tasks := tc.ComponentTasks("dst")
				out.EmitDirect(tasks[n%3], "picked", topology.Values{n}, nil)
				n++
			},
		}
	}, 1).DirectStream("picked", "n")
	b.SetBolt("dst", func() topology.Bolt {
		var task topology.TaskID
		return &funcBolt{
			prepare: func(tc *topology.Context) { task = tc.Task },
			exec: func(t topology.Tuple, out topology.Emitter) error {
				mu.Lock()
				got[task] = append(got[task], t.Int64("n"))
				mu.Unlock()
				return nil
			},
		}
	}, 3).DirectFrom("src", "picked")
	l := startTopology(t, b, Options{})
	tasks := l.Topology().Tasks("dst")
	eventually(t, 5*time.Second, "30 tuples", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[tasks[0]])+len(got[tasks[1]])+len(got[tasks[2]]) == 30
	})
	mu.Lock()
	defer mu.Unlock()
	for i, task := range tasks {
		for _, n := range got[task] {
			if int(n%3) != i {
				t.Errorf("value %d reached task index %d, was sent to index %d", n, i, n%3)
			}
		}
	}
}

type openSpout struct {
	open func(*topology.Context)
	next func(topology.SpoutEmitter)
}

func (s *openSpout) Open(_ context.Context, tc *topology.Context) error { s.open(tc); return nil }
func (s *openSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	s.next(out)
	return nil
}
func (s *openSpout) Ack(any)      {}
func (s *openSpout) Fail(any)     {}
func (s *openSpout) Close() error { return nil }

// TestSharedUntrackedTupleAckedByManyTasks sends untracked tuples to three
// tasks (the all grouping), which share one tuple object and each ack it;
// under the race detector this checks that acking writes nothing shared.
func TestSharedUntrackedTupleAckedByManyTasks(t *testing.T) {
	var acked atomic.Int64
	rec := newSpoutRecord()
	b := topology.NewBuilder("shared-acks")
	b.SetConfig(topology.Config{Guarantee: topology.AtMostOnce})
	b.SetSpout("nums", seqFactory(500, false, rec), 1).Output("n")
	b.SetBolt("each", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		out.Ack(t)
		out.Ack(t) // a second ack has no effect
		acked.Add(1)
		return nil
	}).Factory(), 3).AllFrom("nums")
	reg := newTestRegistry()
	startTopology(t, b, Options{Registerer: reg})
	eventually(t, 5*time.Second, "1500 executions", func() bool { return acked.Load() == 1500 })
	eventually(t, 5*time.Second, "1500 acks counted", func() bool {
		return counterSum(t, reg, "gale_executor_acked_tuples_total", nil) >= 1500
	})
}
