package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// workerSet runs one topology in n workers of one plan, each with Run in a
// goroutine of this test, sharing a checkpoint space in a directory.
type workerSet struct {
	t     *testing.T
	topo  *topology.Topology
	plan  WorkerPlan
	space *state.DirSpace

	mu      sync.Mutex
	cancels []context.CancelFunc
	dones   []chan error
	regs    []*prometheus.Registry // each process's registry
}

func runWorkerSet(t *testing.T, topo *topology.Topology, n int) *workerSet {
	t.Helper()
	return runWorkerSetIn(t, topo, n, 0, state.NewDirSpace(t.TempDir()))
}

// runWorkerSetIn starts n workers in space, placing task i on worker
// (i+shift) mod n.
func runWorkerSetIn(t *testing.T, topo *topology.Topology, n, shift int, space *state.DirSpace) *workerSet {
	t.Helper()
	tasks := map[topology.TaskID]int{}
	for i := 1; i <= topo.NumTasks(); i++ {
		tasks[topology.TaskID(i)] = (i + shift) % n
	}
	ws := &workerSet{
		t: t, topo: topo,
		plan:    WorkerPlan{Workers: freeAddrs(t, n), Tasks: tasks, Token: "secret"},
		space:   space,
		cancels: make([]context.CancelFunc, n),
		dones:   make([]chan error, n),
		regs:    make([]*prometheus.Registry, n),
	}
	for i := range n {
		ws.start(i)
	}
	t.Cleanup(ws.stopAll)
	return ws
}

// start starts worker i's process, as its supervisor would.
func (ws *workerSet) start(i int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	plan := ws.plan
	plan.Index = i
	reg := newTestRegistry()
	opts := Options{Logger: testLogger(ws.t).With("test-worker", i), StateDir: ws.t.TempDir(), Space: ws.space, Worker: &plan, Registerer: reg}
	go func() { done <- Run(ctx, ws.topo, opts) }()
	ws.mu.Lock()
	ws.cancels[i], ws.dones[i], ws.regs[i] = cancel, done, reg
	ws.mu.Unlock()
}

// stop stops worker i's process and returns what its Run returned.
func (ws *workerSet) stop(i int) error {
	ws.mu.Lock()
	cancel, done := ws.cancels[i], ws.dones[i]
	ws.cancels[i] = nil
	ws.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		ws.t.Fatalf("worker %d did not stop within 30s", i)
		return nil
	}
}

func (ws *workerSet) stopAll() {
	var wg sync.WaitGroup
	for i := range ws.cancels {
		wg.Go(func() {
			if err := ws.stop(i); err != nil {
				ws.t.Errorf("worker %d: Run: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// lastCommit returns the newest checkpoint complete on every worker.
func (ws *workerSet) lastCommit() uint64 {
	st, err := ws.space.Namespace(context.Background(), commitsNamespace)
	if err != nil {
		ws.t.Fatal(err)
	}
	ids, err := st.ListManifests(context.Background())
	if err != nil || len(ids) == 0 {
		return 0
	}
	return ids[len(ids)-1]
}

// checkerTopology is the keyed counting checker of the exactly-once tests:
// replayable sequence spouts, fields-grouped into a checker that counts
// each key in keyed state and counts sequence gaps and duplicates.
func checkerTopology(t *testing.T, name string, n, keys, spoutTasks, checkers int, failArmed *atomic.Bool) (*topology.Topology, *eoResult, *exhaustion) {
	t.Helper()
	res := &eoResult{counts: map[string]int64{}, violations: map[string]int64{}}
	exhausted := &exhaustion{tasks: map[topology.TaskID]bool{}}
	b := topology.NewBuilder(name)
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 50 * time.Millisecond})
	b.SetSpout("seq", func() topology.Spout { return &replaySpout{n: n, keys: keys, exhausted: exhausted, slow: true} }, spoutTasks).Output("key", "seq")
	b.SetBolt("check", func() topology.Bolt {
		return &countingChecker{keys: keys, spoutTasks: spoutTasks, n: n, failArmed: failArmed, result: res}
	}, checkers).FieldsFrom("seq", "key")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo, res, exhausted
}

// checkExact checks the checker's final counts against the ground truth.
func checkExact(t *testing.T, res *eoResult, n, keys, spoutTasks int) {
	t.Helper()
	res.mu.Lock()
	defer res.mu.Unlock()
	for key, v := range res.violations {
		if v != 0 {
			t.Errorf("the checker saw %d sequence gaps or duplicates for %s", v, key)
		}
	}
	for task := range spoutTasks {
		for k := range keys {
			key := fmt.Sprintf("t%d-k%d", task, k)
			if got := res.counts[key]; got != int64(n/keys) {
				t.Errorf("count of %s = %d, want %d", key, got, n/keys)
			}
		}
	}
}

// waitRestored waits for the injected failure and for every spout task to
// be restored after it, then forgets which tasks ran dry before.
func waitRestored(t *testing.T, failArmed *atomic.Bool, exhausted *exhaustion, spoutTasks int) {
	t.Helper()
	eventually(t, 30*time.Second, "the injected failure and the restore after it", func() bool {
		exhausted.mu.Lock()
		defer exhausted.mu.Unlock()
		return !failArmed.Load() && len(exhausted.restored) >= spoutTasks
	})
	exhausted.mu.Lock()
	clear(exhausted.tasks)
	exhausted.mu.Unlock()
}

// waitDrained waits until every spout task is exhausted and then a
// checkpoint completes on every worker: its barriers followed the last
// tuples, so the state it holds is final.
func waitDrained(t *testing.T, ws *workerSet, exhausted *exhaustion, spoutTasks int) {
	t.Helper()
	var after uint64
	eventually(t, 60*time.Second, "every spout task exhausted", func() bool {
		after = ws.lastCommit()
		return exhausted.count() == spoutTasks
	})
	eventually(t, 30*time.Second, "a checkpoint after the spouts ran dry", func() bool { return ws.lastCommit() > after })
}

// TestExactlyOnceAcrossWorkers runs the keyed counting checker in three
// workers linked over loopback TCP, injects a task failure after the first
// checkpoint completed, and checks that every worker restarted from the
// same checkpoint: the counts are exact and no key saw a gap or duplicate.
func TestExactlyOnceAcrossWorkers(t *testing.T) {
	const n, keys, spoutTasks = 6000, 30, 3
	var failArmed atomic.Bool
	failArmed.Store(true)
	topo, res, exhausted := checkerTopology(t, "eo-workers", n, keys, spoutTasks, 3, &failArmed)
	ws := runWorkerSet(t, topo, 3)
	waitRestored(t, &failArmed, exhausted, spoutTasks)
	waitDrained(t, ws, exhausted, spoutTasks)
	ws.stopAll()
	exhausted.mu.Lock()
	restored := len(exhausted.restored)
	exhausted.mu.Unlock()
	if restored < spoutTasks {
		t.Errorf("spout tasks were restored %d times; want every one of the %d restored after the failure", restored, spoutTasks)
	}
	for i, reg := range ws.regs {
		if n := counterSum(t, reg, "gale_topology_restarts_total", map[string]string{"topology": "eo-workers"}); n < 1 {
			t.Errorf("worker %d: gale_topology_restarts_total = %v, want at least 1", i, n)
		}
		if n := counterSum(t, reg, "gale_checkpoint_completed_total", nil); n < 1 {
			t.Errorf("worker %d: gale_checkpoint_completed_total = %v, want at least 1", i, n)
		}
	}
	checkExact(t, res, n, keys, spoutTasks)
}

// TestExactlyOnceWorkerRestarts restarts a worker's process, then the
// leader's, while the topology runs: each time every worker restarts from
// the last complete checkpoint, and the counts stay exact.
func TestExactlyOnceWorkerRestarts(t *testing.T) {
	const n, keys, spoutTasks = 6000, 30, 2
	var failArmed atomic.Bool
	topo, res, exhausted := checkerTopology(t, "eo-restarts", n, keys, spoutTasks, 2, &failArmed)
	ws := runWorkerSet(t, topo, 2)
	for _, w := range []int{1, 0} {
		before := ws.lastCommit()
		eventually(t, 30*time.Second, "a checkpoint complete", func() bool { return ws.lastCommit() > before })
		if err := ws.stop(w); err != nil {
			t.Fatalf("worker %d: Run: %v", w, err)
		}
		ws.start(w)
	}
	waitDrained(t, ws, exhausted, spoutTasks)
	ws.stopAll()
	exhausted.mu.Lock()
	restored := exhausted.restored
	exhausted.mu.Unlock()
	// Each restart restores every spout task from a checkpoint taken after
	// it emitted something (a restart from scratch would also count
	// exactly, so this is what shows the restore happened).
	if len(restored) < 2*spoutTasks || slices.Contains(restored, 0) {
		t.Errorf("spout tasks restored to positions %v; want at least %d restores, all past the start", restored, 2*spoutTasks)
	}
	checkExact(t, res, n, keys, spoutTasks)
}

func TestCoordMessageRoundTrip(t *testing.T) {
	in := coordMsg{op: coordAck, worker: 2, session: 1 << 62, id: 77, err: "disk full"}
	it := in.item()
	var vd wire.ValueDecoder
	got, err := decodeCoord(&vd, &it)
	if err != nil || got != in {
		t.Fatalf("decodeCoord = %+v, %v; want %+v", got, err, in)
	}
	bad := []wire.Item{
		{Kind: wire.KindBarrier},
		{Kind: wire.KindTuple, Tuple: wire.Tuple{Stream: "other", Values: []any{int64(1), int64(1), int64(1), ""}}},
		{Kind: wire.KindTuple, Tuple: wire.Tuple{Stream: coordStream, Values: []any{int64(1), int64(1)}}},
		{Kind: wire.KindTuple, Tuple: wire.Tuple{Stream: coordStream, Values: []any{int64(99), int64(1), int64(1), ""}}},
		{Kind: wire.KindTuple, Tuple: wire.Tuple{Stream: coordStream, Values: []any{"x", int64(1), int64(1), ""}}},
		{Kind: wire.KindTuple, Tuple: wire.Tuple{Stream: coordStream, Values: []any{int64(1), int64(1), int64(1), 5.0}}},
	}
	for i, it := range bad {
		if _, err := decodeCoord(&vd, &it); err == nil {
			t.Errorf("bad item %d decoded without error", i)
		}
	}
}

// TestExactlyOnceAcrossWorkersNeedsSpace: without a checkpoint space every
// worker sees, Run refuses to start.
func TestExactlyOnceAcrossWorkersNeedsSpace(t *testing.T) {
	var failArmed atomic.Bool
	topo, _, _ := checkerTopology(t, "eo-nospace", 10, 1, 1, 1, &failArmed)
	plan := &WorkerPlan{Workers: freeAddrs(t, 2), Tasks: map[topology.TaskID]int{1: 0, 2: 1}}
	err := Run(t.Context(), topo, Options{Logger: testLogger(t), StateDir: t.TempDir(), Worker: plan})
	if err == nil {
		t.Fatal("Run without Options.Space: nil error")
	}
	if _, err := Start(t.Context(), topo, Options{Logger: testLogger(t), StateDir: t.TempDir(), Worker: plan}); err == nil {
		t.Fatal("Start of an exactly-once topology in several workers: nil error, want a pointer to Run")
	}
}

// TestExactlyOnceWorkerWithoutTasks places two tasks on three workers, so
// the leader runs none: it still leads, its empty part counts, and the
// checkpoints complete.
func TestExactlyOnceWorkerWithoutTasks(t *testing.T) {
	const n, keys, spoutTasks = 2000, 10, 1
	var failArmed atomic.Bool
	failArmed.Store(true)
	topo, res, exhausted := checkerTopology(t, "eo-idle", n, keys, spoutTasks, 1, &failArmed)
	ws := runWorkerSet(t, topo, 3)
	waitRestored(t, &failArmed, exhausted, spoutTasks)
	waitDrained(t, ws, exhausted, spoutTasks)
	ws.stopAll()
	checkExact(t, res, n, keys, spoutTasks)
}

// TestExactlyOnceRescaleWorkers runs the checker in two workers, then in
// one (the same checkpoint space, without a plan), then in three, each
// phase restoring what the previous one checkpointed: each task takes its
// key groups from the parts of all the old workers, and the final counts
// are exact.
func TestExactlyOnceRescaleWorkers(t *testing.T) {
	const n, keys, spoutTasks = 6000, 30, 2
	var failArmed atomic.Bool
	topo, res, exhausted := checkerTopology(t, "eo-rescale", n, keys, spoutTasks, 3, &failArmed)
	ws := runWorkerSet(t, topo, 2)
	first := ws.lastCommit()
	eventually(t, 30*time.Second, "a checkpoint in two workers", func() bool { return ws.lastCommit() > first })
	ws.stopAll()

	// One worker, no plan.
	mid := ws.lastCommit()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, topo, Options{Logger: testLogger(t).With("test-worker", "lone"), StateDir: t.TempDir(), Space: ws.space})
	}()
	eventually(t, 30*time.Second, "a checkpoint in one worker", func() bool { return ws.lastCommit() > mid })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("lone worker: Run: %v", err)
	}

	ws3 := runWorkerSetIn(t, topo, 3, 1, ws.space)
	waitDrained(t, ws3, exhausted, spoutTasks)
	ws3.stopAll()

	exhausted.mu.Lock()
	restored := exhausted.restored
	exhausted.mu.Unlock()
	if len(restored) < 2*spoutTasks || slices.Contains(restored, 0) {
		t.Errorf("spout tasks restored to positions %v; want both phases after the first to restore past the start", restored)
	}
	checkExact(t, res, n, keys, spoutTasks)
}

// TestExactlyOnceWorkerWithoutSpouts gives the one spout task to the
// leader, so worker 1 runs only a bolt: its barriers come over the data
// link from the leader's spout, racing the leader's trigger over the
// coordination link. Reports that beat the trigger must count once it
// arrives, or every checkpoint waits for its timeout.
func TestExactlyOnceWorkerWithoutSpouts(t *testing.T) {
	const n, keys, spoutTasks = 3000, 10, 1
	var failArmed atomic.Bool
	topo, res, exhausted := checkerTopology(t, "eo-nospout", n, keys, spoutTasks, 2, &failArmed)
	// The leader's commands reach worker 1 well after the barriers do.
	testCoordDelay = 30 * time.Millisecond
	t.Cleanup(func() { testCoordDelay = 0 })
	// Task ids: check 1-2, seq 3; task i runs on worker (i+1) mod 2.
	ws := runWorkerSetIn(t, topo, 2, 1, state.NewDirSpace(t.TempDir()))
	if ws.plan.Tasks[topo.Tasks("seq")[0]] != 0 {
		t.Fatalf("the spout runs on worker %d; the test needs it on the leader", ws.plan.Tasks[topo.Tasks("seq")[0]])
	}
	start := ws.lastCommit()
	eventually(t, 20*time.Second, "five checkpoints", func() bool { return ws.lastCommit() >= start+5 })
	waitDrained(t, ws, exhausted, spoutTasks)
	ws.stopAll()
	checkExact(t, res, n, keys, spoutTasks)
}

// TestExactlyOnceLostStart restarts the leader and loses its first Start on
// the way to worker 1, which runs only a bolt: it keeps running the old
// session, sends nothing that could fail, and so never asks to join. The
// leader must say Start again, or the workers wait on each other for good.
func TestExactlyOnceLostStart(t *testing.T) {
	const n, keys, spoutTasks = 3000, 10, 1
	var failArmed atomic.Bool
	var firstSession atomic.Uint64
	var dropped atomic.Int32
	testDropCoord = func(to int, m coordMsg) bool {
		if m.op != coordStart || to != 1 {
			return false
		}
		firstSession.CompareAndSwap(0, m.session)
		return m.session != firstSession.Load() && dropped.CompareAndSwap(0, 1)
	}
	t.Cleanup(func() { testDropCoord = nil })
	topo, res, exhausted := checkerTopology(t, "eo-loststart", n, keys, spoutTasks, 2, &failArmed)
	// Task ids: check 1-2, seq 3; task i runs on worker (i+1) mod 2, so
	// worker 1 runs check 2 alone.
	ws := runWorkerSetIn(t, topo, 2, 1, state.NewDirSpace(t.TempDir()))
	before := ws.lastCommit()
	eventually(t, 30*time.Second, "a checkpoint", func() bool { return ws.lastCommit() > before })
	if err := ws.stop(0); err != nil {
		t.Fatalf("leader: Run: %v", err)
	}
	ws.start(0)
	waitDrained(t, ws, exhausted, spoutTasks)
	ws.stopAll()
	if dropped.Load() != 1 {
		t.Fatal("no Start was dropped; the test did not test anything")
	}
	checkExact(t, res, n, keys, spoutTasks)
}
