package runtime

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

// TestTuplesKeptUntilAckedAreNotRecycled holds tuples unacked across many
// Execute calls, as a batching bolt does, and checks that each still holds
// its own values when it is finally acked, while the tuples acked at once
// around them are recycled. Both a single receiver and a shared (all
// grouping) tuple are covered, with and without tracking.
func TestTuplesKeptUntilAckedAreNotRecycled(t *testing.T) {
	for _, g := range []topology.Guarantee{topology.AtMostOnce, topology.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			const n = 5000
			rec := newSpoutRecord()
			var mu sync.Mutex
			var bad []string
			seen := map[string]int{}
			holder := func() topology.Bolt {
				type kept struct {
					t topology.Tuple
					n int64
				}
				var held []kept
				var name string
				return &funcBolt{
					prepare: func(tc *topology.Context) { name = fmt.Sprintf("%s/%d", tc.Component, tc.Task) },
					exec: func(tp topology.Tuple, out topology.Emitter) error {
						v := tp.Int64("n")
						mu.Lock()
						seen[name]++
						mu.Unlock()
						if v%3 != 0 {
							out.Ack(tp) // recycled once Execute returns
							return nil
						}
						held = append(held, kept{tp, v})
						if len(held) < 50 && v < n-3 {
							return nil
						}
						for _, k := range held {
							if got := k.t.Int64("n"); got != k.n || k.t.Source() != "seq" {
								mu.Lock()
								bad = append(bad, fmt.Sprintf("%s: kept tuple %d reads %d from %s", name, k.n, got, k.t.Source()))
								mu.Unlock()
							}
							out.Ack(k.t)
						}
						held = held[:0]
						return nil
					},
				}
			}
			b := topology.NewBuilder("recycle")
			b.SetConfig(topology.Config{Guarantee: g, MessageTimeout: time.Minute})
			b.SetSpout("seq", seqFactory(n, true, rec), 1).Output("n")
			b.SetBolt("one", holder, 1).ShuffleFrom("seq")
			b.SetBolt("all", holder, 2).AllFrom("seq")
			startTopology(t, b, Options{})
			eventually(t, 10*time.Second, "every tuple executed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				total := 0
				for _, c := range seen {
					total += c
				}
				return len(seen) == 3 && total == 3*n
			})
			mu.Lock()
			defer mu.Unlock()
			for _, s := range bad {
				t.Error(s)
			}
			if g == topology.AtLeastOnce {
				eventually(t, 20*time.Second, "every tree completed", func() bool { return rec.ackedCount() == n })
			}
		})
	}
}

// TestAckedTuplesAreRecycled checks that a receiver acking every tuple at
// once sees the same few tuple objects again and again, rather than one new
// object per tuple.
func TestAckedTuplesAreRecycled(t *testing.T) {
	const n = 20000
	rec := newSpoutRecord()
	var mu sync.Mutex
	ptrs := map[topology.Tuple]bool{}
	count := 0
	b := topology.NewBuilder("recycled")
	b.SetSpout("seq", seqFactory(n, false, rec), 1).Output("n")
	b.SetBolt("sink", func() topology.Bolt {
		return &funcBolt{exec: func(tp topology.Tuple, out topology.Emitter) error {
			mu.Lock()
			ptrs[tp] = true
			count++
			mu.Unlock()
			out.Ack(tp)
			return nil
		}}
	}, 1).ShuffleFrom("seq")
	startTopology(t, b, Options{})
	eventually(t, 10*time.Second, "every tuple executed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return count == n
	})
	mu.Lock()
	defer mu.Unlock()
	if len(ptrs) > n/2 { // the race detector makes sync.Pool drop some
		t.Errorf("%d tuples executed in %d distinct objects, want recycling to reuse most", n, len(ptrs))
	}
}

// TestFreeTuplesKeepNoValues checks that the tuples a task holds for its
// next emits, and those it recycled outside a batch, keep no values alive.
func TestFreeTuplesKeepNoValues(t *testing.T) {
	big := make([]byte, 1<<20)
	var chunk []*tuple
	for range 4 {
		tp := &tuple{TupleData: topology.TupleData{Vals: topology.Values{big}}, own: true, done: true}
		tp.setStr("old")
		tp.release()
		chunk = append(chunk, tp)
	}
	putChunk(chunk)
	e := &executor{batchSize: 4}
	first := e.takeTuple()
	for _, tp := range append(e.free, first) {
		if tp.Vals != nil || tp.lazy != nil || tp.kind != inVals {
			t.Errorf("a free tuple still holds %d values and lazy values %p (kind %d)", len(tp.Vals), tp.lazy, tp.kind)
		}
	}

	kept := &tuple{TupleData: topology.TupleData{Vals: topology.Values{big}}, own: true, done: true}
	e.recycle(kept)
	if len(e.freeing) != 1 || e.freeing[0].Vals != nil {
		t.Errorf("a tuple recycled outside a batch still holds its values")
	}
}

// TestRemoteTuplesKeptUntilAckedAreNotRecycled is the test above for
// tuples from another worker, which their receiving task recycles too: a
// bolt holds every third one until it acks them in a bunch, and reads
// their values intact, while the others, acked at once, come back as the
// tuples it emits to a sink task in its own worker. The sink checks that
// they do (or the test would prove nothing) and that they carry what was
// emitted.
func TestRemoteTuplesKeptUntilAckedAreNotRecycled(t *testing.T) {
	const n = 5000
	var mu sync.Mutex
	var bad []string
	received := map[*tuple]bool{} // remote tuples hold executed, by address
	var seen, sunk, reused atomic.Int64
	hold := func() topology.Bolt {
		type kept struct {
			t topology.Tuple
			n int64
		}
		var held []kept
		return &funcBolt{exec: func(tp topology.Tuple, out topology.Emitter) error {
			v := tp.Int64("n")
			mu.Lock()
			received[tp.(*tuple)] = true
			mu.Unlock()
			seen.Add(1)
			out.Emit(topology.Values{-v})
			if v%3 != 0 {
				out.Ack(tp)
				return nil
			}
			held = append(held, kept{tp, v})
			if len(held) < 50 && v < n-3 {
				return nil
			}
			for _, k := range held {
				if got := k.t.Int64("n"); got != k.n || k.t.Source() != "seq" {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("kept tuple %d reads %d from %s", k.n, got, k.t.Source()))
					mu.Unlock()
				}
				out.Ack(k.t)
			}
			held = held[:0]
			return nil
		}}
	}
	sink := func() topology.Bolt {
		return &funcBolt{exec: func(tp topology.Tuple, out topology.Emitter) error {
			if v := tp.Int64("m"); v > 0 || v <= -n || tp.Source() != "hold" {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("sink got %d from %s", v, tp.Source()))
				mu.Unlock()
			}
			mu.Lock()
			if received[tp.(*tuple)] {
				reused.Add(1)
			}
			mu.Unlock()
			sunk.Add(1)
			out.Ack(tp)
			return nil
		}}
	}
	b := topology.NewBuilder("recycle-remote")
	b.SetConfig(topology.Config{Guarantee: topology.AtMostOnce})
	b.SetSpout("seq", seqFactory(n, false, newSpoutRecord()), 1).Output("n") // task 1: worker 1
	b.SetBolt("hold", hold, 1).ShuffleFrom("seq").Output("m")                // task 2: worker 0
	b.SetBolt("sink", sink, 2).ShuffleFrom("hold")                           // tasks 3, 4: workers 1, 0
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ls := startWorkers(t, topo, 2)
	if ls[0].isLocal(1) || !ls[0].isLocal(2) || !ls[0].isLocal(4) {
		t.Fatal("placement: want seq in worker 1, hold and one sink task in worker 0")
	}
	eventually(t, 20*time.Second, "every tuple executed and sunk", func() bool {
		return seen.Load() == n && sunk.Load() == n
	})
	mu.Lock()
	defer mu.Unlock()
	for _, s := range bad {
		t.Error(s)
	}
	if reused.Load() == 0 {
		t.Error("no tuple hold received from the other worker came back as one it emitted: nothing was recycled")
	}
}
