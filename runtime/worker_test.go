package runtime

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

// freeAddrs reserves n loopback addresses.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// startWorkers starts topo in two workers of one plan, placing tasks
// alternately, and stops both when the test ends.
func startWorkers(t *testing.T, topo *topology.Topology, n int) []*Local {
	t.Helper()
	addrs := freeAddrs(t, n)
	tasks := map[topology.TaskID]int{}
	for i := 1; i <= topo.NumTasks(); i++ {
		tasks[topology.TaskID(i)] = i % n
	}
	ls := make([]*Local, n)
	for i := range n {
		l, err := Start(context.Background(), topo, Options{
			Logger: testLogger(t),
			Worker: &WorkerPlan{Index: i, Workers: addrs, Tasks: tasks, Token: "secret"},
		})
		if err != nil {
			t.Fatal(err)
		}
		ls[i] = l
	}
	t.Cleanup(func() { stopAll(t, ls) })
	return ls
}

func stopAll(t *testing.T, ls []*Local) {
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := l.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestWordCountAcrossTwoWorkers runs the at-least-once word count with its
// tasks spread over two workers linked by TCP on loopback: every word is
// counted exactly once (nothing fails, so nothing replays) and every
// sentence tree completes at its spout.
func TestWordCountAcrossTwoWorkers(t *testing.T) {
	for _, g := range []topology.Guarantee{topology.AtMostOnce, topology.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			cfg := gen.SentenceConfig{Seed: 3, Limit: 2000, Reliable: g == topology.AtLeastOnce}
			counts := bolts.NewCounts()
			b := topology.NewBuilder("wordcount-workers")
			b.SetConfig(topology.Config{Guarantee: g})
			b.SetSpout("sentences", gen.Sentences(cfg), 2)
			b.SetBolt("split", bolts.Split(" "), 3).ShuffleFrom("sentences")
			b.SetBolt("count", bolts.Count("word", bolts.Into(counts), bolts.Silent()), 3).FieldsFrom("split", "word")
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			ls := startWorkers(t, topo, 2)
			want := gen.Expected(cfg, 2)
			var total int64
			for _, n := range want {
				total += n
			}
			eventually(t, 20*time.Second, "every word counted", func() bool { return counts.Total() == total })
			stopAll(t, ls)
			got := counts.Strings()
			for w, n := range want {
				if got[w] != n {
					t.Fatalf("count of %q = %d, want %d", w, got[w], n)
				}
			}
		})
	}
}

// TestBackpressureCrossesWorkers puts a slow bolt in one worker and an
// untracked spout in the other: the spout must be held back by the
// transport's flow control, keeping the tuples in flight bounded.
func TestBackpressureCrossesWorkers(t *testing.T) {
	var emitted, executed atomic.Int64
	b := topology.NewBuilder("backpressure-workers")
	b.SetConfig(topology.Config{Guarantee: topology.AtMostOnce, QueueSize: 128, BatchSize: 32})
	b.SetSpout("fast", func() topology.Spout { return &endlessSpout{emitted: &emitted} }, 1).Output("n", "payload")
	b.SetBolt("slow", topology.BoltFunc(func(context.Context, topology.Tuple, topology.Emitter) error {
		time.Sleep(100 * time.Microsecond)
		executed.Add(1)
		return nil
	}).Factory(), 1).ShuffleFrom("fast")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ls := startWorkers(t, topo, 2)
	if ls[0].isLocal(topo.Tasks("fast")[0]) == ls[0].isLocal(topo.Tasks("slow")[0]) {
		t.Fatal("spout and bolt run in the same worker; the test needs them apart")
	}
	maxGap := int64(0)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		maxGap = max(maxGap, emitted.Load()-executed.Load())
	}
	if executed.Load() < 100 {
		t.Fatalf("the slow bolt executed only %d tuples", executed.Load())
	}
	// The receiver's queue (128 tuples), the transport's credit window (32
	// frames of up to 32 tuples), the frames being written and read, and
	// the spout's partial batch.
	const bound = 128 + 32*32 + 4*32 + 64
	if maxGap > bound {
		t.Errorf("up to %d tuples between spout and slow bolt, want at most %d", maxGap, bound)
	}
	t.Logf("emitted %d, executed %d, largest gap %d", emitted.Load(), executed.Load(), maxGap)
}
