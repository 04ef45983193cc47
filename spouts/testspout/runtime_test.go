package testspout

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/topology"
)

// TestWithRuntime runs FromSlice on the in-process runtime with a bolt that
// fails every tuple the first time it sees it: each must be replayed, and
// the recorder must end done with every id acked.
func TestWithRuntime(t *testing.T) {
	const n = 200
	values := make([]topology.Values, n)
	for i := range values {
		values[i] = topology.Values{i}
	}
	rec := NewRecorder()
	var mu sync.Mutex
	seen := map[int64]int{}
	flaky := topology.BoltFunc(func(_ context.Context, in topology.Tuple, out topology.Emitter) error {
		mu.Lock()
		defer mu.Unlock()
		v := in.Int64("n")
		seen[v]++
		if seen[v] == 1 {
			out.Fail(in)
			return nil
		}
		out.Ack(in)
		return nil
	})
	b := topology.NewBuilder("replay")
	b.SetSpout("in", FromSlice(values, Reliable(), Split(), WithRecorder(rec), WithFields("n")), 2)
	b.SetBolt("flaky", flaky.Factory(), 2).FieldsFrom("in", "n")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	l, err := runtime.Start(t.Context(), topo, runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := rec.WaitDone(ctx); err != nil {
		t.Error(err)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if got := len(rec.Acked()); got != n {
		t.Errorf("acked %d ids, want %d", got, n)
	}
	if got := len(rec.Failed()); got != n {
		t.Errorf("failed %d ids, want %d (each once)", got, n)
	}
	if rec.Emitted() != 2*n {
		t.Errorf("emitted %d, want %d (each twice)", rec.Emitted(), 2*n)
	}
}
