package state_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// BenchmarkKeyedStateEngine is the engine case of BenchmarkKeyedState (in
// the same test binary, so `go test -bench KeyedState ./state/...` runs both):
// the same counter increments — 100k keys drawn from the same Zipf
// distribution — as tuples through a real exactly-once topology: a spout, a
// fields grouping on the key, and a bolt doing Counter.Add on keyed state,
// with a checkpoint every second. One iteration is 1M updates.
func BenchmarkKeyedStateEngine(b *testing.B) {
	const updates = 1 << 20
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, uint64(len(keys)-1))
	draws := make([]uint32, updates)
	for i := range draws {
		draws[i] = uint32(z.Uint64())
	}
	b.Run("engine", func(b *testing.B) {
		var total int64
		for b.Loop() {
			runEngineUpdates(b, keys, draws)
			total += updates
		}
		b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "updates/s")
	})
}

func runEngineUpdates(b *testing.B, keys []string, draws []uint32) {
	var done atomic.Int64
	tb := topology.NewBuilder("keyed-state-bench")
	tb.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: time.Second})
	tb.SetSpout("updates", func() topology.Spout { return &drawSpout{keys: keys, draws: draws} }, 1).Output("user")
	tb.SetBolt("count", func() topology.Bolt { return &counterBolt{done: &done} }, 2).FieldsFrom("updates", "user")
	topo, err := tb.Build()
	if err != nil {
		b.Fatal(err)
	}
	l, err := runtime.Start(context.Background(), topo, runtime.Options{Logger: slog.New(slog.DiscardHandler), StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for done.Load() < int64(len(draws)) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d updates in 5 minutes", done.Load(), len(draws))
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
}

type drawSpout struct {
	keys  []string
	draws []uint32
	next  int
}

func (s *drawSpout) Open(context.Context, *topology.Context) error { return nil }
func (s *drawSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	for range 64 {
		if s.next == len(s.draws) {
			return nil
		}
		out.Emit(topology.Values{s.keys[s.draws[s.next]]}, nil)
		s.next++
	}
	return nil
}
func (s *drawSpout) Ack(any)      {}
func (s *drawSpout) Fail(any)     {}
func (s *drawSpout) Close() error { return nil }

// counterBolt increments the keyed counter of each tuple's key (the runtime
// binds the key from the fields grouping).
type counterBolt struct {
	counter *state.Counter
	done    *atomic.Int64
}

func (c *counterBolt) Prepare(_ context.Context, tc *topology.Context) error {
	be, err := state.BackendOf(tc)
	if err != nil {
		return err
	}
	c.counter = state.NewCounter(be, "count")
	return nil
}

func (c *counterBolt) Execute(_ context.Context, t topology.Tuple, _ topology.Emitter) error {
	_, err := c.counter.Add(1)
	c.done.Add(1)
	return err
}

func (c *counterBolt) Cleanup() error { return nil }
