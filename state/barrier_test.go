package state

import (
	"sync"
	"testing"

	"github.com/gale-stream/gale/internal/keygroup"
)

// TestCheckpointsMatchBarriersUnderConcurrency runs the runtime's protocol:
// two task goroutines keep updating state while a coordinator goroutine
// checkpoints. Each task flushes for checkpoint n after its record n*step
// and goes straight on; the coordinator checkpoints once both have. Every
// checkpoint must hold exactly the updates before each task's barrier,
// although the tasks' small caches overflow while checkpoints are pending.
func TestCheckpointsMatchBarriersUnderConcurrency(t *testing.T) {
	const (
		parallelism = 2
		step        = 1500 // records between barriers
		checkpoints = 4
		records     = step*checkpoints + 700
		distinct    = 400
	)
	ctx := t.Context()
	s := openStore(t, t.TempDir(), Options{BackendCacheBytes: 8 << 10, Retain: checkpoints})
	st := newStorage(t)
	bs := tasks(t, s, "c", parallelism)

	// Each task's input: keys it owns, in a fixed order.
	inputs := make([][]int, parallelism)
	for i := 0; len(inputs[0]) < records || len(inputs[1]) < records; i++ {
		k := i % distinct
		task := keygroup.Task(keygroup.Of(key(k), testMaxPar), parallelism, testMaxPar)
		if len(inputs[task]) < records {
			inputs[task] = append(inputs[task], k)
		}
	}

	flushed := make(chan uint64, parallelism*checkpoints)
	errs := make(chan error, parallelism+1)
	var wg sync.WaitGroup
	for task, b := range bs {
		wg.Go(func() {
			c := NewCounter(b, "n")
			for r, k := range inputs[task] {
				if err := b.SetCurrentKey(key(k)); err != nil {
					errs <- err
					return
				}
				if _, err := c.Add(1); err != nil {
					errs <- err
					return
				}
				if (r+1)%step == 0 {
					id := uint64((r + 1) / step)
					if err := b.FlushForCheckpoint(ctx, id); err != nil {
						errs <- err
						return
					}
					flushed <- id
				}
			}
		})
	}
	wg.Go(func() {
		seen := map[uint64]int{}
		for done := 0; done < checkpoints; {
			id := <-flushed
			if seen[id]++; seen[id] < parallelism {
				continue
			}
			if _, err := s.Checkpoint(ctx, id, st); err != nil {
				errs <- err
				return
			}
			done++
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for id := 1; id <= checkpoints; id++ {
		want := map[int]int64{}
		for task := range parallelism {
			for _, k := range inputs[task][:id*step] {
				want[k]++
			}
		}
		s2 := openStore(t, t.TempDir(), Options{})
		must(t, s2.Restore(ctx, st, uint64(id), scopesOf(bs)))
		got := readCounters(t, tasks(t, s2, "c", parallelism), distinct)
		if !mapsEqual(got, want) {
			t.Fatalf("checkpoint %d does not match the barriers: %s", id, diff(got, want))
		}
		must(t, s2.Close())
	}
}
