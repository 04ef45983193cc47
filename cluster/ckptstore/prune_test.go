package ckptstore_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gale-stream/gale/cluster/ckptstore"
)

// namespaces lists the namespace directories node n holds of topology.
func namespaces(t *testing.T, n *node, topology string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(n.dir, topology))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestPruneDeadSubmissions: a node deletes the checkpoints of incarnations
// other than the live one, all of a killed topology's, none of a topology
// it does not know, and none written within PruneAfter.
func TestPruneDeadSubmissions(t *testing.T) {
	ctx := context.Background()
	write := func(c *testCluster, n *node, topology, inc string) {
		t.Helper()
		st, err := c.space(n, c.token, topology).WithIncarnation(inc).Namespace(ctx, "worker-0")
		if err != nil {
			t.Fatal(err)
		}
		put(t, st, "000001.sst", "data of "+inc)
	}
	known := map[string]ckptstore.Submission{"clicks": {Incarnation: "B"}}
	lookup := func(name string) (ckptstore.Submission, bool) { s, ok := known[name]; return s, ok }

	c := newCluster(t, 1, clusterOpts{replicas: -1, token: "tok", pruneAfter: time.Millisecond})
	n := c.nodes[0]
	for _, inc := range []string{"A", "B", ""} {
		write(c, n, "clicks", inc)
	}
	write(c, n, "other", "X")
	if got := namespaces(t, n, "clicks"); !slices.Equal(got, []string{"A.worker-0", "B.worker-0", "worker-0"}) {
		t.Fatalf("namespaces before pruning: %v", got)
	}
	time.Sleep(10 * time.Millisecond)
	if deleted := n.ck.Prune(lookup); deleted != 2 {
		t.Errorf("Prune deleted %d namespaces, want 2", deleted)
	}
	if got := namespaces(t, n, "clicks"); !slices.Equal(got, []string{"B.worker-0"}) {
		t.Errorf("namespaces of the live submission B: %v, want only B's", got)
	}
	if got := namespaces(t, n, "other"); len(got) != 1 {
		t.Errorf("namespaces of a topology the node does not know: %v, want them kept", got)
	}
	// The live submission's checkpoints still read back.
	st, err := c.space(n, c.token, "clicks").WithIncarnation("B").Namespace(ctx, "worker-0")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, st, "000001.sst"); got != "data of B" {
		t.Errorf("B's file reads %q", got)
	}

	known["clicks"] = ckptstore.Submission{Incarnation: "B", Killed: true}
	if deleted := n.ck.Prune(lookup); deleted != 1 || len(namespaces(t, n, "clicks")) != 0 {
		t.Errorf("after the kill: deleted %d, left %v; want B's deleted", deleted, namespaces(t, n, "clicks"))
	}

	// Recently written namespaces stay, whatever the node knows.
	c2 := newCluster(t, 1, clusterOpts{replicas: -1, token: "tok", pruneAfter: time.Hour})
	write(c2, c2.nodes[0], "clicks", "C")
	if deleted := c2.nodes[0].ck.Prune(lookup); deleted != 0 {
		t.Errorf("Prune deleted %d recently written namespaces", deleted)
	}
}
