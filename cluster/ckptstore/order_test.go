package ckptstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gale-stream/gale/state"
)

func peers(ids ...string) []Peer {
	var out []Peer
	for _, id := range ids {
		out = append(out, Peer{ID: id, API: "127.0.0.1:1"})
	}
	return out
}

func ids(ps []Peer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestOrder(t *testing.T) {
	all := peers("n1", "n2", "n3", "n4", "n5", "n6")
	ref := nsRef{"clicks", "worker-3"}
	first := ids(order(ref, all))
	// Deterministic, whatever the order peers are listed in.
	rev := slices.Clone(all)
	slices.Reverse(rev)
	if got := ids(order(ref, rev)); !slices.Equal(got, first) {
		t.Fatalf("order depends on the input order: %v vs %v", got, first)
	}
	// Removing a peer keeps the relative order of the others: the
	// replicas of a namespace change only when one of them leaves.
	for i := range all {
		rest := slices.Delete(slices.Clone(all), i, i+1)
		want := slices.DeleteFunc(slices.Clone(first), func(id string) bool { return id == all[i].ID })
		if got := ids(order(ref, rest)); !slices.Equal(got, want) {
			t.Fatalf("without %s: %v, want %v", all[i].ID, got, want)
		}
	}
	// Namespaces spread over the nodes: each is a first replica for a
	// fair share of 600 namespaces.
	firsts := map[string]int{}
	for i := range 600 {
		firsts[order(nsRef{"clicks", fmt.Sprintf("worker-%d", i)}, all)[0].ID]++
	}
	for _, p := range all {
		if n := firsts[p.ID]; n < 60 || n > 140 {
			t.Errorf("node %s is first replica of %d of 600 namespaces", p.ID, n)
		}
	}
}

// checkName accepts exactly the names state.DirStorage accepts.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"sst/abc/000001.sst", "ckpt/00000000000000000001/OPTIONS", "", ".", "..", "a/../b", "/abs",
		"a//b", "a/", "a b", "a\x00b", "é", "a%2Fb", "~x", string(make([]byte, 513))} {
		f.Add(s)
	}
	dir := f.TempDir()
	st, err := state.NewDirStorage(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ours := checkName("file", name) == nil
		rc, err := st.OpenFile(t.Context(), name)
		if err == nil {
			rc.Close()
		}
		// Anything but a refusal of the name (not found; a name element
		// too long for the file system) means DirStorage accepted it.
		theirs := err == nil || !strings.Contains(err.Error(), "invalid storage name")
		if ours != theirs {
			t.Fatalf("name %q: checkName accepts %v, DirStorage %v (%v)", name, ours, theirs, err)
		}
	})
}

func TestTopologyDir(t *testing.T) {
	for name, want := range map[string]string{
		"clicks":    "clicks",
		"wc.v2_a-b": "wc.v2_a-b",
		"café":      "~636166c3a9",
		"a b":       "~612062",
	} {
		if got := topologyDir(name); got != want {
			t.Errorf("topologyDir(%q) = %q, want %q", name, got, want)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", `a\b`, "a:b", "a\nb", string(make([]byte, 129))} {
		if checkTopology(bad) == nil {
			t.Errorf("topology %q accepted", bad)
		}
	}
}
