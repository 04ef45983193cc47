package assign

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// tb is what check needs; both *testing.T and *rapid.T provide it.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// check is a naive checker of every invariant [Compute] promises for in.
// It recomputes everything from scratch with maps and loops.
func check(t tb, in Input, a *Assignment) {
	t.Helper()
	slots := map[string]int{}
	totalSlots := 0
	for _, n := range in.Nodes {
		slots[n.ID] = n.Slots
		totalSlots += n.Slots
	}
	totalWorkers := 0
	for _, tp := range in.Topologies {
		totalWorkers += tp.Workers
	}
	if len(a.Topologies) != len(in.Topologies) {
		t.Fatalf("%d topologies assigned, want %d", len(a.Topologies), len(in.Topologies))
	}
	load := map[string]int{}
	for _, tp := range in.Topologies {
		ta := a.Topology(tp.Name)
		if ta == nil {
			t.Fatalf("topology %q not assigned", tp.Name)
		}
		if len(ta.Workers) != tp.Workers {
			t.Fatalf("topology %q: %d workers placed, want %d", tp.Name, len(ta.Workers), tp.Workers)
		}
		// Every task in exactly one worker, with its key groups.
		owner := map[string][]int{} // component -> worker of each task index
		groups := map[string][]int{}
		for _, c := range tp.Components {
			owner[c.Name] = slices.Repeat([]int{-1}, c.Parallelism)
			groups[c.Name] = make([]int, tp.MaxParallelism)
		}
		for wi, w := range ta.Workers {
			if slots[w.Node] == 0 {
				t.Fatalf("topology %q worker %d on node %q, which is absent or has no slots", tp.Name, wi, w.Node)
			}
			load[w.Node]++
			for _, ct := range w.Tasks {
				own, ok := owner[ct.Component]
				if !ok {
					t.Fatalf("topology %q worker %d: unknown component %q", tp.Name, wi, ct.Component)
				}
				var comp Component
				for _, c := range tp.Components {
					if c.Name == ct.Component {
						comp = c
					}
				}
				for _, task := range ct.TaskList(tp.MaxParallelism) {
					if own[task.Index] != -1 {
						t.Fatalf("topology %q component %q task %d in workers %d and %d", tp.Name, ct.Component, task.Index, own[task.Index], wi)
					}
					own[task.Index] = wi
					if task.ID != comp.FirstTask+int32(task.Index) {
						t.Fatalf("topology %q component %q task index %d has id %d", tp.Name, ct.Component, task.Index, task.ID)
					}
					for g := task.KeyGroups.Start; g < task.KeyGroups.End; g++ {
						groups[ct.Component][g]++
						if !ct.KeyGroups.Contains(g) {
							t.Fatalf("topology %q component %q: task %d group %d outside block range %v", tp.Name, ct.Component, task.Index, g, ct.KeyGroups)
						}
					}
				}
				if ct.KeyGroups.Start < 0 || ct.KeyGroups.End > tp.MaxParallelism {
					t.Fatalf("topology %q component %q: block range %v outside [0,%d)", tp.Name, ct.Component, ct.KeyGroups, tp.MaxParallelism)
				}
			}
		}
		for c, own := range owner {
			for i, w := range own {
				if w == -1 {
					t.Fatalf("topology %q component %q task %d in no worker", tp.Name, c, i)
				}
			}
			for g, n := range groups[c] {
				if n != 1 {
					t.Fatalf("topology %q component %q key group %d owned %d times", tp.Name, c, g, n)
				}
			}
		}
	}
	// Balance: every node runs its fair share W·s/S rounded down or up, and
	// nobody runs more than its slots when capacity suffices.
	if totalSlots == 0 {
		return
	}
	for id, s := range slots {
		l := load[id]
		lo := totalWorkers * s / totalSlots
		hi := (totalWorkers*s + totalSlots - 1) / totalSlots
		if l < lo || l > hi {
			t.Fatalf("node %q with %d slots runs %d workers, want %d..%d (W=%d S=%d)", id, s, l, lo, hi, totalWorkers, totalSlots)
		}
		if totalWorkers <= totalSlots && l > s {
			t.Fatalf("node %q runs %d workers on %d slots although capacity suffices", id, l, s)
		}
	}
	if a.Overcommitted != (totalWorkers > totalSlots) {
		t.Fatalf("Overcommitted=%v with %d workers and %d slots", a.Overcommitted, totalWorkers, totalSlots)
	}
}

func nodes(n, slots int) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = Node{ID: fmt.Sprintf("node-%04d", i), Slots: slots}
	}
	return out
}

func topo(name string, workers int, pars ...int) Topology {
	t := Topology{Name: name, Workers: workers, MaxParallelism: 128}
	next := int32(1)
	for i, p := range pars {
		t.Components = append(t.Components, Component{Name: fmt.Sprintf("c%d", i), Parallelism: p, FirstTask: next})
		next += int32(p)
	}
	return t
}

// manyTopologies models total tasks as topologies of 10 workers with
// components of 4 and 6 tasks: 10 tasks per topology, one per worker on
// average, so as many workers as tasks (the worst case for placement).
func manyTopologies(tasks int) []Topology {
	out := make([]Topology, tasks/10)
	for i := range out {
		out[i] = topo(fmt.Sprintf("topo-%05d", i), 10, 4, 6)
	}
	return out
}

// singleTaskWorkers models total tasks as topologies of 100 single-task
// workers: one component of parallelism 100.
func singleTaskWorkers(tasks int) []Topology {
	out := make([]Topology, tasks/100)
	for i := range out {
		out[i] = topo(fmt.Sprintf("topo-%05d", i), 100, 100)
	}
	return out
}

func shuffled(in Input, r *rand.Rand) Input {
	out := Input{Nodes: slices.Clone(in.Nodes), Topologies: slices.Clone(in.Topologies), Previous: in.Previous}
	r.Shuffle(len(out.Nodes), func(i, j int) { out.Nodes[i], out.Nodes[j] = out.Nodes[j], out.Nodes[i] })
	r.Shuffle(len(out.Topologies), func(i, j int) { out.Topologies[i], out.Topologies[j] = out.Topologies[j], out.Topologies[i] })
	for i := range out.Topologies {
		cs := slices.Clone(out.Topologies[i].Components)
		r.Shuffle(len(cs), func(a, b int) { cs[a], cs[b] = cs[b], cs[a] })
		out.Topologies[i].Components = cs
	}
	return out
}

func mustCompute(t testing.TB, in Input) *Assignment {
	t.Helper()
	a, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	check(t, in, a)
	return a
}

func TestDeterministicWhateverTheInputOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	in := Input{
		Nodes:      append(nodes(7, 3), Node{ID: "big", Slots: 8}, Node{ID: "none", Slots: 0}),
		Topologies: []Topology{topo("a", 5, 3, 7, 1), topo("b", 2, 2), topo("c", 9, 16, 16, 4)},
	}
	want := mustCompute(t, in)
	for i := range 20 {
		got := mustCompute(t, shuffled(in, r))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d: assignment differs", i)
		}
	}
	// The same with a previous assignment.
	in.Previous = want
	in.Nodes = in.Nodes[1:]
	next := mustCompute(t, in)
	for i := range 20 {
		if got := mustCompute(t, shuffled(in, r)); !reflect.DeepEqual(got, next) {
			t.Fatalf("shuffle %d with previous: assignment differs", i)
		}
	}
}

func TestBalance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []Node
		topos []Topology
	}{
		{"exact fit", nodes(4, 2), []Topology{topo("a", 8, 8)}},
		{"under capacity", nodes(10, 4), []Topology{topo("a", 3, 3), topo("b", 7, 1)}},
		{"over capacity", nodes(3, 1), []Topology{topo("a", 10, 10)}},
		{"mixed slots", []Node{{"x", 1}, {"y", 2}, {"z", 5}}, []Topology{topo("a", 7, 7), topo("b", 9, 3)}},
		{"mixed slots over", []Node{{"x", 1}, {"y", 2}, {"z", 5}}, []Topology{topo("a", 19, 20)}},
		{"no topologies", nodes(3, 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustCompute(t, Input{Nodes: tc.nodes, Topologies: tc.topos})
		})
	}
}

func TestInvalidInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
		want error
	}{
		{"empty node id", Input{Nodes: []Node{{"", 1}}}, ErrInvalidInput},
		{"duplicate node", Input{Nodes: []Node{{"a", 1}, {"a", 2}}}, ErrInvalidInput},
		{"negative slots", Input{Nodes: []Node{{"a", -1}}}, ErrInvalidInput},
		{"no workers", Input{Nodes: nodes(1, 1), Topologies: []Topology{topo("t", 0, 1)}}, ErrInvalidInput},
		{"duplicate topology", Input{Nodes: nodes(1, 1), Topologies: []Topology{topo("t", 1, 1), topo("t", 1, 1)}}, ErrInvalidInput},
		{"parallelism above max", Input{Nodes: nodes(1, 1), Topologies: []Topology{topo("t", 1, 129)}}, ErrInvalidInput},
		{"no capacity", Input{Nodes: []Node{{"a", 0}}, Topologies: []Topology{topo("t", 1, 1)}}, ErrNoCapacity},
		{"no nodes", Input{Topologies: []Topology{topo("t", 1, 1)}}, ErrNoCapacity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Compute = %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func TestLayoutSpreadsSmallComponents(t *testing.T) {
	// Four components of one task over four workers: one task per worker,
	// not all on worker 0.
	a := mustCompute(t, Input{Nodes: nodes(4, 1), Topologies: []Topology{topo("t", 4, 1, 1, 1, 1)}})
	for i, w := range a.Topologies[0].Workers {
		if len(w.Tasks) != 1 {
			t.Errorf("worker %d has %d components, want 1", i, len(w.Tasks))
		}
	}
}

func TestLayoutIgnoresMembership(t *testing.T) {
	tp := []Topology{topo("t", 6, 10, 3, 40)}
	a := mustCompute(t, Input{Nodes: nodes(3, 2), Topologies: tp})
	b := mustCompute(t, Input{Nodes: nodes(5, 1), Topologies: tp})
	for i := range a.Topologies[0].Workers {
		if !reflect.DeepEqual(a.Topologies[0].Workers[i].Tasks, b.Topologies[0].Workers[i].Tasks) {
			t.Fatalf("worker %d tasks differ between memberships", i)
		}
	}
}

// moveFraction places in, changes the nodes with change, and returns the
// fraction of workers that moved.
func moveFraction(t *testing.T, in Input, change func([]Node) []Node) float64 {
	t.Helper()
	prev := mustCompute(t, in)
	in.Previous = prev
	in.Nodes = change(slices.Clone(in.Nodes))
	next := mustCompute(t, in)
	moved, common := Moved(prev, next)
	return float64(moved) / float64(common)
}

func TestFewWorkersMoveWhenOneNodeJoinsOrLeaves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
		slots int
		topos []Topology
	}{
		{"10 nodes 1000 workers", 10, 100, manyTopologies(1000 * 10)},
		{"100 nodes 10000 workers", 100, 100, manyTopologies(10000 * 10)},
		{"1000 nodes 100000 single-task workers", 1000, 100, singleTaskWorkers(100000)},
		{"50 nodes few workers", 50, 4, manyTopologies(100 * 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (testing.Short() || raceEnabled) && tc.nodes >= 1000 {
				// The race detector makes the naive checker and the cold
				// start about 10x slower; the smaller cases cover the code.
				t.Skip("1000-node case skipped under -short and -race")
			}
			in := Input{Nodes: nodes(tc.nodes, tc.slots), Topologies: tc.topos}
			n := float64(tc.nodes)
			leave := moveFraction(t, in, func(ns []Node) []Node { return slices.Delete(ns, tc.nodes/2, tc.nodes/2+1) })
			join := moveFraction(t, in, func(ns []Node) []Node { return append(ns, Node{ID: "newcomer", Slots: tc.slots}) })
			t.Logf("N=%d: leave moved %.5f (1/N=%.5f), join moved %.5f (1/(N+1)=%.5f)", tc.nodes, leave, 1/n, join, 1/(n+1))
			if leave > 1.5/n {
				t.Errorf("leave moved %.5f of workers, want <= 1.5/N = %.5f", leave, 1.5/n)
			}
			if join > 1.5/n {
				t.Errorf("join moved %.5f of workers, want <= 1.5/N = %.5f", join, 1.5/n)
			}
			if leave == 0 || join == 0 {
				t.Errorf("nothing moved (leave %v, join %v): the changed node must gain or lose work", leave, join)
			}
		})
	}
}

func TestColdStartSpreadsWorkersByRendezvous(t *testing.T) {
	// Without a previous assignment and with spare capacity, each worker
	// lands on its rendezvous winner, so removing a node that runs no worker
	// of a topology leaves that topology in place even without stickiness.
	tp := []Topology{topo("t", 4, 4)}
	all := nodes(40, 1)
	a := mustCompute(t, Input{Nodes: all, Topologies: tp})
	used := map[string]bool{}
	for _, w := range a.Topologies[0].Workers {
		used[w.Node] = true
	}
	var rest []Node
	for _, n := range all {
		if used[n.ID] || len(rest) < 20 {
			rest = append(rest, n)
		}
	}
	b := mustCompute(t, Input{Nodes: rest, Topologies: tp})
	if moved, _ := Moved(a, b); moved != 0 {
		t.Fatalf("%d workers moved when idle nodes left", moved)
	}
}

func TestScale1000Nodes100000Tasks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		topos []Topology
	}{
		{"10000 topologies of 10 workers", manyTopologies(100000)},
		{"1000 topologies of 100 single-task workers", singleTaskWorkers(100000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (testing.Short() || raceEnabled) && len(tc.topos) == 1000 {
				t.Skip("second 100,000-worker model skipped under -short and -race")
			}
			in := Input{Nodes: nodes(1000, 100), Topologies: tc.topos}
			// CPU time, not wall time, is asserted: the test machines are
			// shared, and a loaded one stretches wall time several times.
			start, startCPU := time.Now(), cpuTime(t)
			a, err := Compute(in)
			elapsed, elapsedCPU := time.Since(start), cpuTime(t)-startCPU
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("cold start: %v wall, %v CPU", elapsed, elapsedCPU)
			if !raceEnabled && elapsedCPU > time.Second {
				t.Errorf("Compute took %v of CPU, want < 1s", elapsedCPU)
			}
			check(t, in, a)
			b, err := Compute(shuffled(in, rand.New(rand.NewPCG(3, 4))))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatal("not deterministic")
			}
			in.Previous = a
			in.Nodes = in.Nodes[1:]
			start = time.Now()
			if _, err := Compute(in); err != nil {
				t.Fatal(err)
			}
			t.Logf("after a node left: %v", time.Since(start))
		})
	}
}

func TestPropertyAgainstNaiveChecker(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		in := genInput(rt)
		a, err := Compute(in)
		if err != nil {
			rt.Fatal(err)
		}
		check(rt, in, a)
		// A second round from a changed membership, sticky to the first.
		in.Previous = a
		in.Nodes = rapid.SliceOfNDistinct(rapid.Custom(genNode), 1, 12, func(n Node) string { return n.ID }).Draw(rt, "nodes2")
		if totalSlots(in.Nodes) == 0 {
			in.Nodes[0].Slots = 1
		}
		b, err := Compute(in)
		if err != nil {
			rt.Fatal(err)
		}
		check(rt, in, b)
	})
}

func totalSlots(ns []Node) int {
	s := 0
	for _, n := range ns {
		s += n.Slots
	}
	return s
}

func genNode(rt *rapid.T) Node {
	return Node{ID: rapid.StringMatching(`n[0-9]{1,2}`).Draw(rt, "id"), Slots: rapid.IntRange(0, 5).Draw(rt, "slots")}
}

func genInput(rt *rapid.T) Input {
	in := Input{Nodes: rapid.SliceOfNDistinct(rapid.Custom(genNode), 1, 12, func(n Node) string { return n.ID }).Draw(rt, "nodes")}
	if totalSlots(in.Nodes) == 0 {
		in.Nodes[0].Slots = 1
	}
	nt := rapid.IntRange(0, 5).Draw(rt, "topologies")
	for i := range nt {
		tp := Topology{
			Name:           fmt.Sprintf("t%d", i),
			Workers:        rapid.IntRange(1, 12).Draw(rt, "workers"),
			MaxParallelism: rapid.IntRange(1, 64).Draw(rt, "maxParallelism"),
		}
		nc := rapid.IntRange(0, 4).Draw(rt, "components")
		next := int32(1)
		for c := range nc {
			p := rapid.IntRange(1, tp.MaxParallelism).Draw(rt, "parallelism")
			tp.Components = append(tp.Components, Component{Name: fmt.Sprintf("c%d", c), Parallelism: p, FirstTask: next})
			next += int32(p)
		}
		in.Topologies = append(in.Topologies, tp)
	}
	return in
}

func TestSinceChangesOnlyForChangedWorkers(t *testing.T) {
	in := Input{Nodes: nodes(4, 2), Topologies: []Topology{topo("a", 8, 16), topo("b", 4, 4)}, Epoch: 1}
	first := mustCompute(t, in)
	for _, ta := range first.Topologies {
		for i, w := range ta.Workers {
			if w.Since != 1 {
				t.Fatalf("%s worker %d: Since %d, want 1", ta.Name, i, w.Since)
			}
		}
	}
	// A node leaves at epoch 2: only the moved workers get Since 2.
	in.Previous, in.Epoch, in.Nodes = first, 2, in.Nodes[1:]
	second := mustCompute(t, in)
	moved := 0
	for ti, ta := range second.Topologies {
		for i, w := range ta.Workers {
			was := first.Topologies[ti].Workers[i]
			want := uint64(1)
			if was.Node != w.Node {
				want = 2
				moved++
			}
			if w.Since != want {
				t.Fatalf("%s worker %d (%s -> %s): Since %d, want %d", ta.Name, i, was.Node, w.Node, w.Since, want)
			}
		}
	}
	if moved == 0 {
		t.Fatal("no worker moved")
	}
	// Rescaling b changes its task blocks: every b worker gets Since 3; a's
	// workers are untouched.
	in.Previous, in.Epoch = second, 3
	in.Topologies = []Topology{topo("a", 8, 16), topo("b", 4, 8)}
	third := mustCompute(t, in)
	for i, w := range third.Topology("b").Workers {
		if w.Since != 3 {
			t.Fatalf("b worker %d after rescale: Since %d, want 3", i, w.Since)
		}
	}
	for i, w := range third.Topology("a").Workers {
		if w.Since != second.Topology("a").Workers[i].Since {
			t.Fatalf("a worker %d: Since changed on b's rescale", i)
		}
	}
	// A new generation of a (a resubmission) keeps placement but renews Since.
	in.Previous, in.Epoch = third, 4
	in.Topologies[0].Generation = 7
	fourth := mustCompute(t, in)
	for i, w := range fourth.Topology("a").Workers {
		if w.Node != third.Topology("a").Workers[i].Node || w.Since != 4 {
			t.Fatalf("a worker %d after resubmission: node %s Since %d, want node %s Since 4", i, w.Node, w.Since, third.Topology("a").Workers[i].Node)
		}
	}
}
