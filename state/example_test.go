package state_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/state"
)

// A worker counts words in keyed state, checkpoints, and a new worker with
// a different key-group range restores exactly its part.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "state-example")
	defer os.RemoveAll(tmp)
	quiet := slog.New(slog.DiscardHandler)

	store, _ := state.Open(filepath.Join(tmp, "worker1"), state.Options{Logger: quiet})
	scope := state.Scope{Topology: "wordcount", Component: "count", Task: 0,
		Groups: keygroup.RangeOf(0, 1, 128), MaxParallelism: 128}
	b, _ := store.Task(scope)
	count := state.NewCounter(b, "count")
	for _, w := range []string{"to", "be", "or", "not", "to", "be"} {
		_ = b.SetCurrentKey(state.AppendRecordKey(nil, w)) // the runtime does this for fields-grouped tuples
		_, _ = count.Add(1)
	}
	// At the barrier of checkpoint 1, then the checkpoint itself.
	_ = b.FlushForCheckpoint(ctx, 1)
	storage, _ := state.NewDirStorage(filepath.Join(tmp, "checkpoints"))
	m, err := store.Checkpoint(ctx, 1, storage)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("checkpoint", m.ID, "complete, all bytes uploaded:", m.UploadedBytes == m.TotalBytes)
	_ = b.Close()
	_ = store.Close()

	// Another worker now owns the key groups of task 1 of 2.
	store2, _ := state.Open(filepath.Join(tmp, "worker2"), state.Options{Logger: quiet})
	defer store2.Close()
	scope2 := state.Scope{Topology: "wordcount", Component: "count", Task: 1,
		Groups: keygroup.RangeOf(1, 2, 128), MaxParallelism: 128}
	latest, _ := state.LatestCheckpoint(ctx, storage)
	if err := store2.Restore(ctx, storage, latest.ID, []state.Scope{scope2}); err != nil {
		fmt.Println(err)
		return
	}
	b2, _ := store2.Task(scope2)
	count2 := state.NewCounter(b2, "count")
	for _, w := range []string{"to", "be", "or", "not"} {
		k := state.AppendRecordKey(nil, w)
		if !scope2.Groups.Contains(keygroup.Of(k, 128)) {
			continue // another task's key
		}
		_ = b2.SetCurrentKey(k)
		n, _ := count2.Get()
		fmt.Printf("%s=%d\n", w, n)
	}
	// Output:
	// checkpoint 1 complete, all bytes uploaded: true
	// to=2
}
