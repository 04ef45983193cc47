package runtime

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

// TestMultiAnchorTreeCompletesOnlyWhenEveryDescendantIsAcked joins pairs of
// tuples from two spouts into one tuple anchored to both, and holds the
// joined tuples unacked in a gate: no spout tuple may complete until the
// gate opens.
func TestMultiAnchorTreeCompletesOnlyWhenEveryDescendantIsAcked(t *testing.T) {
	rec := newSpoutRecord()
	var open atomic.Bool
	var held sync.Mutex
	b := topology.NewBuilder("multi-anchor")
	b.SetSpout("left", seqFactory(50, true, rec), 1).Output("n")
	b.SetSpout("right", seqFactory(50, true, rec), 1).Output("n")
	b.SetBolt("join", func() topology.Bolt {
		pend := map[int64]topology.Tuple{}
		return &funcBolt{exec: func(t topology.Tuple, out topology.Emitter) error {
			n := t.Int64("n")
			other, ok := pend[n]
			if !ok {
				pend[n] = t
				return nil
			}
			delete(pend, n)
			out.Emit(topology.Values{n}, t, other)
			out.Ack(t)
			out.Ack(other)
			return nil
		}}
	}, 1).FieldsFrom("left", "n").FieldsFrom("right", "n").Output("n")
	b.SetBolt("gate", func() topology.Bolt {
		var waiting []topology.Tuple
		return &funcBolt{exec: func(t topology.Tuple, out topology.Emitter) error {
			held.Lock()
			defer held.Unlock()
			if topology.IsTick(t) {
				if open.Load() {
					for _, w := range waiting {
						out.Ack(w)
					}
					waiting = nil
				}
				return nil
			}
			waiting = append(waiting, t)
			return nil
		}}
	}, 1).ShuffleFrom("join").Tick(10 * time.Millisecond)
	reg := newTestRegistry()
	startTopology(t, b, Options{Registerer: reg})

	// Wait until the joins happened: 50 joined tuples acked by join means
	// 100 bolt acks at join.
	eventually(t, 5*time.Second, "joins", func() bool {
		return counterSum(t, reg, "gale_executor_acked_tuples_total", map[string]string{"component": "join"}) == 100
	})
	time.Sleep(50 * time.Millisecond)
	if n := rec.ackedCount(); n != 0 {
		t.Fatalf("%d spout tuples completed while their joined descendant was unacked", n)
	}
	open.Store(true)
	eventually(t, 5*time.Second, "all 100 spout tuples complete", func() bool { return rec.ackedCount() == 100 })
}

// TestExplicitFailFailsRootOnce fans every spout tuple out to three
// children and fails all three: the spout sees exactly one Fail per tuple,
// and no Ack.
func TestExplicitFailFailsRootOnce(t *testing.T) {
	rec := newSpoutRecord()
	b := topology.NewBuilder("fail-once")
	b.SetSpout("nums", func() topology.Spout {
		return &seqSpout{n: 100, reliable: true, noRetry: true, rec: rec, batch: 10}
	}, 1).Output("n")
	b.SetBolt("fan", topology.BasicFunc(func(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
		for range 3 {
			out.Emit(topology.Values{t.Int64("n")})
		}
		return nil
	}).Factory(), 2).ShuffleFrom("nums").Output("n")
	b.SetBolt("failer", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		out.Fail(t)
		return nil
	}).Factory(), 2).ShuffleFrom("fan")
	l := startTopology(t, b, Options{})
	eventually(t, 5*time.Second, "100 fails", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.failed >= 100
	})
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.failed != 100 || len(rec.acked) != 0 {
		t.Errorf("spout saw %d fails and %d acks for 100 tuples whose children all failed; want 100 and 0", rec.failed, len(rec.acked))
	}
}

// TestUnackedTupleTimesOutAndIsReplayed uses a bolt that ignores the first
// delivery of every tuple: the tree times out, the spout replays it, and
// the replay is acked.
func TestUnackedTupleTimesOutAndIsReplayed(t *testing.T) {
	rec := newSpoutRecord()
	b := topology.NewBuilder("timeout")
	b.SetConfig(topology.Config{MessageTimeout: 200 * time.Millisecond})
	b.SetSpout("nums", seqFactory(20, true, rec), 1).Output("n")
	seen := map[int64]bool{}
	b.SetBolt("forgetful", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		n := t.Int64("n")
		if !seen[n] {
			seen[n] = true // first delivery: never acked
			return nil
		}
		out.Ack(t)
		return nil
	}).Factory(), 1).ShuffleFrom("nums")
	reg := newTestRegistry()
	startTopology(t, b, Options{Registerer: reg})
	eventually(t, 5*time.Second, "all 20 tuples acked after replay", func() bool { return rec.ackedCount() == 20 })
	if got := counterSum(t, reg, "gale_spout_timed_out_tuples_total", nil); got != 20 {
		t.Errorf("timed out %v tuples, want 20", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.failed != 20 {
		t.Errorf("spout Fail called %d times, want 20", rec.failed)
	}
}

// TestRandomFailuresLoseNothing fails 10% of tuples at random in a
// two-stage pipeline; the spout replays them until every message is acked,
// and max pending is never exceeded.
func TestRandomFailuresLoseNothing(t *testing.T) {
	const n, maxPending = 3000, 50
	rec := newSpoutRecord()
	b := topology.NewBuilder("random-fail")
	b.SetConfig(topology.Config{MaxSpoutPending: maxPending})
	b.SetSpout("nums", seqFactory(n, true, rec), 2).Output("n")
	flaky := func() topology.Bolt {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		return &funcBolt{exec: func(t topology.Tuple, out topology.Emitter) error {
			if rng.IntN(10) == 0 {
				out.Fail(t)
				return nil
			}
			out.Emit(topology.Values{t.Int64At(0)}, t)
			out.Ack(t)
			return nil
		}}
	}
	b.SetBolt("a", flaky, 2).ShuffleFrom("nums").Output("n")
	b.SetBolt("b", flaky, 2).FieldsFrom("a", "n").Output("n")
	l := startTopology(t, b, Options{})
	eventually(t, 20*time.Second, "every message acked", func() bool { return rec.ackedCount() == 2*n })
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.failed == 0 {
		t.Error("no tuple failed; the test did not exercise replay")
	}
	for key, times := range rec.acked {
		if times != 1 {
			t.Errorf("message %s acked %d times", key, times)
		}
	}
	for _, e := range l.spouts {
		if e.maxSeen > maxPending {
			t.Errorf("spout task %d had %d trees in flight, max pending is %d", e.task, e.maxSeen, maxPending)
		}
		if e.maxSeen < maxPending/2 {
			t.Errorf("spout task %d never had more than %d trees in flight; the bound %d was not exercised", e.task, e.maxSeen, maxPending)
		}
	}
}
