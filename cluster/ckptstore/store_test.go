package ckptstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/state"
)

// A state.Store checkpoints incrementally through one node, with
// retention; the node and one of the namespace's replicas die; a new store
// restores the latest checkpoint through the node that was no replica, and
// continues checkpointing there.
func TestStoreSurvivesItsNode(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	c := newCluster(t, 4, clusterOpts{replicas: 2, token: "cluster-secret"})
	writer := c.nodes[0]
	space := c.space(writer, "worker-secret", "clicks")
	storage, err := space.Namespace(ctx, "worker-0")
	if err != nil {
		t.Fatal(err)
	}
	scope := state.Scope{Topology: "clicks", Component: "count", Task: 0,
		Groups: keygroup.RangeOf(0, 1, 64), MaxParallelism: 64}
	store, err := state.Open(t.TempDir(), state.Options{Logger: quiet, Retain: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.Task(scope)
	if err != nil {
		t.Fatal(err)
	}
	count := state.NewCounter(b, "n")
	want := map[string]int64{}
	const checkpoints = 5
	for id := uint64(1); id <= checkpoints; id++ {
		for i := range 200 {
			k := fmt.Sprintf("key-%d", (i*7+int(id))%150)
			if err := b.SetCurrentKey(state.AppendRecordKey(nil, k)); err != nil {
				t.Fatal(err)
			}
			if _, err := count.Add(1); err != nil {
				t.Fatal(err)
			}
			want[k]++
		}
		if err := b.FlushForCheckpoint(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Checkpoint(ctx, id, storage); err != nil {
			t.Fatalf("checkpoint %d: %v", id, err)
		}
	}
	_ = b.Close()
	_ = store.Close()

	// Retention ran on every node that holds the namespace.
	ids, err := storage.ListManifests(ctx)
	if err != nil || !slices.Equal(ids, []uint64{checkpoints - 1, checkpoints}) {
		t.Fatalf("manifests after retention: %v, %v", ids, err)
	}
	writerFiles := countFiles(t, filepath.Join(writer.dir, "clicks", "worker-0"))
	var replicas, others []*node
	for _, n := range c.nodes[1:] {
		k := countFiles(t, filepath.Join(n.dir, "clicks", "worker-0"))
		switch k {
		case writerFiles:
			replicas = append(replicas, n)
		case 0:
			others = append(others, n)
		default:
			t.Fatalf("node %s holds %d objects of the namespace, the writer %d", n.id, k, writerFiles)
		}
	}
	if len(replicas) != 2 || len(others) != 1 {
		t.Fatalf("%d full replicas, %d empty nodes", len(replicas), len(others))
	}

	c.kill(writer)
	c.kill(replicas[0])
	moved := others[0]
	storage, err = c.space(moved, "worker-secret", "clicks").Namespace(ctx, "worker-0")
	if err != nil {
		t.Fatal(err)
	}
	latest, err := state.LatestCheckpoint(ctx, storage)
	if err != nil || latest.ID != checkpoints {
		t.Fatalf("latest checkpoint through %s: %v, %v", moved.id, latest, err)
	}
	store2, err := state.Open(t.TempDir(), state.Options{Logger: quiet, Retain: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	if err := store2.Restore(ctx, storage, latest.ID, []state.Scope{scope}); err != nil {
		t.Fatal(err)
	}
	b2, err := store2.Task(scope)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	count2 := state.NewCounter(b2, "n")
	for k, n := range want {
		if err := b2.SetCurrentKey(state.AppendRecordKey(nil, k)); err != nil {
			t.Fatal(err)
		}
		if got, err := count2.Get(); err != nil || got != n {
			t.Fatalf("%s = %d, %v after restore; want %d", k, got, err, n)
		}
	}
	// The restored store checkpoints on; the one replica left and the new
	// writer hold all of it.
	if err := b2.SetCurrentKey(state.AppendRecordKey(nil, "after")); err != nil {
		t.Fatal(err)
	}
	if _, err := count2.Add(1); err != nil {
		t.Fatal(err)
	}
	if err := b2.FlushForCheckpoint(ctx, checkpoints+1); err != nil {
		t.Fatal(err)
	}
	m, err := store2.Checkpoint(ctx, checkpoints+1, storage)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{moved, replicas[1]} {
		for _, f := range m.Files {
			if !holds(n, "clicks", "worker-0", f.Path) {
				t.Fatalf("node %s lacks %s of checkpoint %d", n.id, f.Path, m.ID)
			}
		}
		if !holdsManifest(n, "clicks", "worker-0", m.ID) {
			t.Fatalf("node %s lacks manifest %d", n.id, m.ID)
		}
	}
}

// A node that missed deletes while away comes back with stale copies:
// listings show them again, and the Store's next retention deletes them
// everywhere, so that every node ends up holding what the writer holds.
func TestStaleNodeHealsThroughRetention(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	c := newCluster(t, 3, clusterOpts{replicas: 2})
	storage := c.storage(c.nodes[0], "clicks", "worker-0")
	scope := state.Scope{Topology: "clicks", Component: "count", Task: 0,
		Groups: keygroup.RangeOf(0, 1, 64), MaxParallelism: 64}
	store, err := state.Open(t.TempDir(), state.Options{Logger: quiet, Retain: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	b, err := store.Task(scope)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	count := state.NewCounter(b, "n")
	checkpoint := func(id uint64) {
		t.Helper()
		for i := range 100 {
			if err := b.SetCurrentKey(state.AppendRecordKey(nil, fmt.Sprintf("k%d-%d", id, i))); err != nil {
				t.Fatal(err)
			}
			if _, err := count.Add(1); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.FlushForCheckpoint(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Checkpoint(ctx, id, storage); err != nil {
			t.Fatalf("checkpoint %d: %v", id, err)
		}
	}
	checkpoint(1)
	away := c.nodes[2]
	c.mu.Lock()
	c.alive[away.id] = false // declared dead; its copy stays as it was
	c.mu.Unlock()
	checkpoint(2)
	checkpoint(3)
	if !holdsManifest(away, "clicks", "worker-0", 1) {
		t.Fatal("the away node lost manifest 1 while away")
	}
	c.mu.Lock()
	c.alive[away.id] = true
	c.mu.Unlock()
	ids, err := storage.ListManifests(ctx)
	if err != nil || !slices.Equal(ids, []uint64{1, 3}) {
		t.Fatalf("listing with the stale node back: %v, %v; want [1 3]", ids, err)
	}
	checkpoint(4)
	writer := countFiles(t, filepath.Join(c.nodes[0].dir, "clicks", "worker-0"))
	for _, n := range c.nodes[1:] {
		if k := countFiles(t, filepath.Join(n.dir, "clicks", "worker-0")); k != writer {
			t.Fatalf("node %s holds %d objects, the writer %d", n.id, k, writer)
		}
	}
	if ids, err := storage.ListManifests(ctx); err != nil || !slices.Equal(ids, []uint64{4}) {
		t.Fatalf("after retention: %v, %v; want [4]", ids, err)
	}
}
