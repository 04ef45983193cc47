package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func testRoute(t *testing.T, g topology.Grouping, ntargets int, local func(topology.TaskID) bool) *route {
	t.Helper()
	c := &topology.Component{ID: "sub"}
	for i := range ntargets {
		c.Tasks = append(c.Tasks, topology.TaskID(10+i))
	}
	if local == nil {
		local = func(topology.TaskID) bool { return true }
	}
	r, err := newRoute(topology.Subscriber{Component: c, Grouping: g},
		topology.Stream{ID: "default", Fields: topology.Fields{"key", "n"}}, 128, local, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func chooseAll(t *testing.T, r *route, n int, value func(i int) topology.Values) map[topology.TaskID]int {
	t.Helper()
	counts := map[topology.TaskID]int{}
	for i := range n {
		dst, err := r.choose(value(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dst {
			counts[d]++
		}
	}
	return counts
}

func TestFieldsGroupingSendsEqualKeysToOneTask(t *testing.T) {
	r := testRoute(t, topology.ByFields("key"), 7, nil)
	owner := map[string]topology.TaskID{}
	for i := range 10000 {
		key := fmt.Sprintf("k%d", i%500)
		dst, err := r.choose(topology.Values{key, int64(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(dst) != 1 {
			t.Fatalf("fields grouping chose %d tasks", len(dst))
		}
		if o, ok := owner[key]; ok && o != dst[0] {
			t.Fatalf("key %s went to tasks %d and %d", key, o, dst[0])
		}
		owner[key] = dst[0]
	}
	// Integer keys of different Go types are one key.
	a, _ := r.choose(topology.Values{int64(42), 0}, nil)
	b, _ := r.choose(topology.Values{int8(42), 0}, nil)
	if a[0] != b[0] {
		t.Errorf("int64(42) went to %d, int8(42) to %d", a[0], b[0])
	}
}

func TestAllGroupingReachesEveryTask(t *testing.T) {
	r := testRoute(t, topology.All(), 5, nil)
	counts := chooseAll(t, r, 100, func(i int) topology.Values { return topology.Values{"x", i} })
	if len(counts) != 5 {
		t.Fatalf("all grouping reached %d tasks, want 5", len(counts))
	}
	for task, c := range counts {
		if c != 100 {
			t.Errorf("task %d got %d tuples, want 100", task, c)
		}
	}
}

func TestGlobalGroupingPicksLowestTask(t *testing.T) {
	r := testRoute(t, topology.Global(), 5, nil)
	counts := chooseAll(t, r, 100, func(i int) topology.Values { return topology.Values{"x", i} })
	if len(counts) != 1 || counts[10] != 100 {
		t.Fatalf("global grouping spread %v, want all 100 on task 10", counts)
	}
}

func TestShuffleGroupingsSpreadEvenly(t *testing.T) {
	for _, g := range []topology.Grouping{topology.Shuffle(), topology.LocalOrShuffle()} {
		t.Run(g.Kind.String(), func(t *testing.T) {
			r := testRoute(t, g, 4, nil)
			counts := chooseAll(t, r, 4000, func(i int) topology.Values { return topology.Values{"x", i} })
			for task, c := range counts {
				if c < 990 || c > 1010 {
					t.Errorf("task %d got %d of 4000 tuples, want about 1000", task, c)
				}
			}
			if len(counts) != 4 {
				t.Errorf("reached %d tasks, want 4", len(counts))
			}
		})
	}
}

func TestLocalOrShufflePrefersLocalTasks(t *testing.T) {
	local := func(task topology.TaskID) bool { return task%2 == 0 }
	r := testRoute(t, topology.LocalOrShuffle(), 6, local)
	counts := chooseAll(t, r, 600, func(i int) topology.Values { return topology.Values{"x", i} })
	for task, c := range counts {
		if !local(task) {
			t.Errorf("remote task %d got %d tuples", task, c)
		} else if c != 200 {
			t.Errorf("local task %d got %d tuples, want 200", task, c)
		}
	}
}

func TestPartialKeyKeepsKeysOnTwoTasksAndBalancesSkew(t *testing.T) {
	r := testRoute(t, topology.PartialKey("key"), 8, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	tasksOf := map[string]map[topology.TaskID]bool{}
	load := map[topology.TaskID]int{}
	const n = 80000
	for i := range n {
		key := "hot"
		if rng.IntN(2) == 0 { // half the tuples carry one hot key
			key = fmt.Sprintf("k%d", rng.IntN(2000))
		}
		dst, err := r.choose(topology.Values{key, i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tasksOf[key] == nil {
			tasksOf[key] = map[topology.TaskID]bool{}
		}
		tasksOf[key][dst[0]] = true
		load[dst[0]]++
	}
	for key, ts := range tasksOf {
		if len(ts) > 2 {
			t.Fatalf("key %s went to %d tasks, want at most 2", key, len(ts))
		}
	}
	if len(tasksOf["hot"]) != 2 {
		t.Errorf("the hot key used %d tasks, want 2 to split its load", len(tasksOf["hot"]))
	}
	// With fields grouping one task would carry the hot key's n/2 alone.
	maxLoad := slices.Max(mapValues(load))
	if maxLoad > n*3/8 {
		t.Errorf("busiest task got %d of %d tuples; partial-key should split the hot key", maxLoad, n)
	}
}

func TestCustomGroupingChoiceIsChecked(t *testing.T) {
	r := testRoute(t, topology.Custom("even", func(v topology.Values, targets, dst []topology.TaskID) []topology.TaskID {
		return append(dst, targets[v[1].(int)%len(targets)])
	}), 3, nil)
	counts := chooseAll(t, r, 9, func(i int) topology.Values { return topology.Values{"x", i} })
	for _, task := range []topology.TaskID{10, 11, 12} {
		if counts[task] != 3 {
			t.Errorf("task %d got %d, want 3", task, counts[task])
		}
	}
	bad := testRoute(t, topology.Custom("bad", func(_ topology.Values, _, dst []topology.TaskID) []topology.TaskID {
		return append(dst, 99)
	}), 3, nil)
	if _, err := bad.choose(topology.Values{"x", 1}, nil); err == nil {
		t.Error("a custom grouping choosing a foreign task was accepted")
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
