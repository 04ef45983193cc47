package assign

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/gale-stream/gale/internal/keygroup"
)

// Node is a cluster member that can run workers.
type Node struct {
	// ID is the node's unique, non-empty id.
	ID string
	// Slots is how many workers the node runs when capacity suffices, and
	// its weight in placement. A node with 0 slots runs no workers.
	Slots int
}

// Component is a spout or bolt of a topology, as far as placement cares.
type Component struct {
	// Name is the component id, unique in its topology.
	Name string
	// Parallelism is the number of tasks, at least 1 and at most the
	// topology's MaxParallelism.
	Parallelism int
	// FirstTask is the task id of task index 0; task index i has id
	// FirstTask+i. topology.Builder numbers user tasks from 1 in component
	// name order; system components (ackers) get the ids above.
	FirstTask int32
}

// Topology is a submitted topology to place.
type Topology struct {
	// Name is the topology's unique, non-empty name.
	Name string
	// Workers is the number of worker processes, at least 1.
	Workers int
	// MaxParallelism is the number of key groups, at least 1.
	MaxParallelism int
	// Components are the topology's components, in any order.
	Components []Component
	// Generation identifies the submission of the topology (the cluster uses
	// its version). When it differs from the previous assignment's, workers
	// may stay on their nodes but all get a new [Worker.Since].
	Generation uint64
}

// Input is everything placement depends on.
type Input struct {
	// Nodes are the alive nodes, in any order.
	Nodes []Node
	// Topologies are the topologies to run, in any order.
	Topologies []Topology
	// Previous is the assignment in force, or nil. Workers stay where it put
	// them when they can (see the package doc).
	Previous *Assignment
	// Epoch is the epoch the result will carry; it becomes the
	// [Worker.Since] of every worker that is new, moved, or changed.
	Epoch uint64
}

// Assignment is the result of [Compute]. It is encoded into the cluster's
// gossip, so its fields carry short msgpack names.
type Assignment struct {
	// Topologies are sorted by name.
	Topologies []TopologyAssignment `msgpack:"t"`
	// Overcommitted is set when there were more workers than slots, so some
	// nodes run more workers than they have slots (evenly so).
	Overcommitted bool `msgpack:"o,omitempty"`
}

// TopologyAssignment places the workers of one topology.
type TopologyAssignment struct {
	Name string `msgpack:"n"`
	// MaxParallelism is the topology's number of key groups.
	MaxParallelism int `msgpack:"m"`
	// Generation is the topology's [Topology.Generation].
	Generation uint64 `msgpack:"v,omitempty"`
	// Workers are indexed by worker index.
	Workers []Worker `msgpack:"w"`
}

// Worker is one worker process of a topology.
type Worker struct {
	// Node is the id of the node that runs the worker.
	Node string `msgpack:"n"`
	// Since is the epoch from which the worker has run on Node with these
	// tasks and this topology generation: its fencing token. It stays the
	// same across assignments that leave the worker alone, so a worker that
	// did not move is not fenced off by epochs made for other changes.
	Since uint64 `msgpack:"e"`
	// Tasks are the worker's tasks per component, sorted by component name;
	// components with no task in this worker are left out.
	Tasks []ComponentTasks `msgpack:"c,omitempty"`
}

// ComponentTasks is the contiguous block of a component's tasks that one
// worker runs.
type ComponentTasks struct {
	Component string `msgpack:"c"`
	// Parallelism is the component's total number of tasks.
	Parallelism int `msgpack:"p"`
	// First is the index of the block's first task; the block holds task
	// indices [First, First+Count).
	First int `msgpack:"f"`
	Count int `msgpack:"k"`
	// FirstTask is the task id of task index First.
	FirstTask int32 `msgpack:"i"`
	// KeyGroups is the union of the key groups of the block's tasks,
	// [RangeOf(First).Start, RangeOf(First+Count-1).End).
	KeyGroups keygroup.Range `msgpack:"g"`
}

// Task is one task of a worker.
type Task struct {
	// ID is the task id.
	ID int32
	// Index is the task's index among its component's tasks.
	Index int
	// KeyGroups are the key groups the task owns.
	KeyGroups keygroup.Range
}

// TaskList expands the block into its tasks; maxParallelism is the
// topology's (see [TopologyAssignment]).
func (c ComponentTasks) TaskList(maxParallelism int) []Task {
	out := make([]Task, c.Count)
	for i := range out {
		idx := c.First + i
		out[i] = Task{
			ID:        c.FirstTask + int32(i),
			Index:     idx,
			KeyGroups: keygroup.RangeOf(idx, c.Parallelism, maxParallelism),
		}
	}
	return out
}

// Topology returns the placement of the named topology, or nil.
func (a *Assignment) Topology(name string) *TopologyAssignment {
	if a == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(a.Topologies, name, func(t TopologyAssignment, n string) int {
		return cmp.Compare(t.Name, n)
	})
	if !ok {
		return nil
	}
	return &a.Topologies[i]
}

// Load returns the number of workers each node runs.
func (a *Assignment) Load() map[string]int {
	load := make(map[string]int)
	if a == nil {
		return load
	}
	for _, t := range a.Topologies {
		for _, w := range t.Workers {
			load[w.Node]++
		}
	}
	return load
}

// Moved counts the workers present in both prev and next that next runs on
// another node, and the workers present in both.
func Moved(prev, next *Assignment) (moved, common int) {
	if prev == nil || next == nil {
		return 0, 0
	}
	for _, nt := range next.Topologies {
		pt := prev.Topology(nt.Name)
		if pt == nil {
			continue
		}
		for i := range min(len(pt.Workers), len(nt.Workers)) {
			common++
			if pt.Workers[i].Node != nt.Workers[i].Node {
				moved++
			}
		}
	}
	return moved, common
}

// Compute places the workers of in.Topologies on in.Nodes and lays out their
// tasks, as described in the package doc. It returns an error wrapping
// [ErrInvalidInput] or [ErrNoCapacity].
func Compute(in Input) (*Assignment, error) {
	nodes, topos, err := normalize(in)
	if err != nil {
		return nil, err
	}
	totalWorkers, totalSlots := 0, 0
	for _, t := range topos {
		totalWorkers += t.Workers
	}
	for _, n := range nodes {
		totalSlots += n.Slots
	}
	out := &Assignment{Topologies: make([]TopologyAssignment, len(topos))}
	if totalWorkers > 0 && totalSlots == 0 {
		return nil, fmt.Errorf("%w: %d workers of %d topologies, %d nodes", ErrNoCapacity, totalWorkers, len(topos), len(nodes))
	}
	out.Overcommitted = totalWorkers > totalSlots

	var p *placer
	if totalSlots > 0 {
		p = newPlacer(nodes, totalWorkers, totalSlots)
	} else {
		p = newPlacer(nil, 0, 1) // no nodes, no workers
	}

	// Keep phase: workers stay where the previous assignment put them.
	placed := make([][]int, len(topos))
	for ti, t := range topos {
		placed[ti] = make([]int, t.Workers)
		prev := in.Previous.Topology(t.Name)
		for w := range placed[ti] {
			placed[ti][w] = -1
			if prev == nil || w >= len(prev.Workers) {
				continue
			}
			if ni, ok := p.index[prev.Workers[w].Node]; ok && p.open(ni) {
				p.take(ni)
				placed[ti][w] = ni
			}
		}
	}
	// Place phase: every other worker goes to its best open node.
	p.collectOpen()
	for ti, t := range topos {
		th := xxhash.Sum64String(t.Name)
		for w := range placed[ti] {
			if placed[ti][w] >= 0 {
				continue
			}
			ni := p.best(workerKey(th, w))
			if ni < 0 {
				// The bounds add up to the number of workers, so this is a bug.
				return nil, fmt.Errorf("assign: internal error: no open node for topology %q worker %d", t.Name, w)
			}
			p.place(ni)
			placed[ti][w] = ni
		}
	}

	for ti, t := range topos {
		ta := TopologyAssignment{Name: t.Name, MaxParallelism: t.MaxParallelism, Generation: t.Generation, Workers: layout(t)}
		prev := in.Previous.Topology(t.Name)
		if prev != nil && (prev.Generation != t.Generation || prev.MaxParallelism != t.MaxParallelism) {
			prev = nil
		}
		for w := range ta.Workers {
			tw := &ta.Workers[w]
			tw.Node = nodes[placed[ti][w]].ID
			tw.Since = in.Epoch
			if prev != nil && w < len(prev.Workers) {
				pw := prev.Workers[w]
				if pw.Node == tw.Node && slices.Equal(pw.Tasks, tw.Tasks) {
					tw.Since = pw.Since
				}
			}
		}
		out.Topologies[ti] = ta
	}
	return out, nil
}

// normalize validates the input and returns copies of nodes and topologies
// sorted by name, with components sorted by name and nodes without slots
// dropped, so the rest of Compute never sees map or input order.
func normalize(in Input) ([]Node, []Topology, error) {
	var errs []error
	seenNode := make(map[string]bool, len(in.Nodes))
	nodes := make([]Node, 0, len(in.Nodes))
	for _, n := range in.Nodes {
		switch {
		case n.ID == "":
			errs = append(errs, fmt.Errorf("%w: node with empty id", ErrInvalidInput))
		case seenNode[n.ID]:
			errs = append(errs, fmt.Errorf("%w: node %q listed twice", ErrInvalidInput, n.ID))
		case n.Slots < 0:
			errs = append(errs, fmt.Errorf("%w: node %q has %d slots", ErrInvalidInput, n.ID, n.Slots))
		}
		seenNode[n.ID] = true
		if n.Slots > 0 {
			nodes = append(nodes, n)
		}
	}
	seenTopo := make(map[string]bool, len(in.Topologies))
	topos := make([]Topology, 0, len(in.Topologies))
	for _, t := range in.Topologies {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%w: topology with empty name", ErrInvalidInput))
		} else if seenTopo[t.Name] {
			errs = append(errs, fmt.Errorf("%w: topology %q listed twice", ErrInvalidInput, t.Name))
		}
		seenTopo[t.Name] = true
		if t.Workers < 1 {
			errs = append(errs, fmt.Errorf("%w: topology %q has %d workers", ErrInvalidInput, t.Name, t.Workers))
		}
		if t.MaxParallelism < 1 {
			errs = append(errs, fmt.Errorf("%w: topology %q has max parallelism %d", ErrInvalidInput, t.Name, t.MaxParallelism))
		}
		seenComp := make(map[string]bool, len(t.Components))
		for _, c := range t.Components {
			switch {
			case c.Name == "":
				errs = append(errs, fmt.Errorf("%w: topology %q: component with empty name", ErrInvalidInput, t.Name))
			case seenComp[c.Name]:
				errs = append(errs, fmt.Errorf("%w: topology %q: component %q listed twice", ErrInvalidInput, t.Name, c.Name))
			case c.Parallelism < 1 || c.Parallelism > t.MaxParallelism:
				errs = append(errs, fmt.Errorf("%w: topology %q: component %q has parallelism %d, want 1..%d (max parallelism)",
					ErrInvalidInput, t.Name, c.Name, c.Parallelism, t.MaxParallelism))
			}
			seenComp[c.Name] = true
		}
		t.Components = slices.Clone(t.Components)
		slices.SortFunc(t.Components, func(a, b Component) int { return cmp.Compare(a.Name, b.Name) })
		topos = append(topos, t)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(topos, func(a, b Topology) int { return cmp.Compare(a.Name, b.Name) })
	return nodes, topos, nil
}

// layout splits the tasks of t over its workers (see the package doc).
func layout(t Topology) []Worker {
	workers := make([]Worker, t.Workers)
	offset := 0
	for _, c := range t.Components {
		p, nw := c.Parallelism, t.Workers
		for b := range nw {
			lo, hi := b*p/nw, (b+1)*p/nw
			if lo == hi {
				continue
			}
			w := (b + offset) % nw
			workers[w].Tasks = append(workers[w].Tasks, ComponentTasks{
				Component:   c.Name,
				Parallelism: p,
				First:       lo,
				Count:       hi - lo,
				FirstTask:   c.FirstTask + int32(lo),
				KeyGroups: keygroup.Range{
					Start: keygroup.RangeOf(lo, p, t.MaxParallelism).Start,
					End:   keygroup.RangeOf(hi-1, p, t.MaxParallelism).End,
				},
			})
		}
		offset = (offset + p) % nw
	}
	return workers
}

// placer tracks node loads against their bounds during one Compute.
type placer struct {
	index map[string]int // node id -> index in the sorted node slice
	key   []uint64       // hash of each node id
	group []int          // index into weights of each node's slot count
	// weights are the distinct slot counts; the rendezvous winner among the
	// nodes of one weight is the one with the largest hash, so only one
	// logarithm per weight is needed per worker.
	weights []int
	load    []int
	// lo and hi are floor and ceil of node i's fair share W·slots/S.
	lo, hi []int
	// extra is how many workers may still go beyond a node's lo (at most
	// one each, to hi). It starts at W - Σlo and reaches 0 by the end.
	extra int

	// openIdx and openKey list the open nodes and their keys during the place
	// phase, so the rendezvous scan skips closed nodes without testing them.
	openIdx []int
	openKey []uint64

	bestH   []uint64 // scratch per weight group
	bestIdx []int
}

// collectOpen fills the open list from scratch.
func (p *placer) collectOpen() {
	p.openIdx, p.openKey = p.openIdx[:0], p.openKey[:0]
	for i := range p.load {
		if p.open(i) {
			p.openIdx = append(p.openIdx, i)
			p.openKey = append(p.openKey, p.key[i])
		}
	}
}

// place gives node i, found by best, one more worker and keeps the open
// list current.
func (p *placer) place(i int) {
	spent := p.extra
	p.take(i)
	if spent > 0 && p.extra == 0 {
		// The last extra is gone: every node at its lower bound closes.
		p.collectOpen()
		return
	}
	if !p.open(i) {
		j := slices.Index(p.openIdx, i)
		last := len(p.openIdx) - 1
		p.openIdx[j], p.openKey[j] = p.openIdx[last], p.openKey[last]
		p.openIdx, p.openKey = p.openIdx[:last], p.openKey[:last]
	}
}

func newPlacer(nodes []Node, totalWorkers, totalSlots int) *placer {
	p := &placer{
		index: make(map[string]int, len(nodes)),
		key:   make([]uint64, len(nodes)),
		group: make([]int, len(nodes)),
		load:  make([]int, len(nodes)),
		lo:    make([]int, len(nodes)),
		hi:    make([]int, len(nodes)),
	}
	p.extra = totalWorkers
	groupOf := make(map[int]int)
	for i, n := range nodes {
		p.index[n.ID] = i
		share := int64(totalWorkers) * int64(n.Slots)
		p.lo[i] = int(share / int64(totalSlots))
		p.hi[i] = p.lo[i]
		if share%int64(totalSlots) != 0 {
			p.hi[i]++
		}
		p.extra -= p.lo[i]
		p.key[i] = xxhash.Sum64String(n.ID)
		g, ok := groupOf[n.Slots]
		if !ok {
			g = len(p.weights)
			groupOf[n.Slots] = g
			p.weights = append(p.weights, n.Slots)
		}
		p.group[i] = g
	}
	p.bestH = make([]uint64, len(p.weights))
	p.bestIdx = make([]int, len(p.weights))
	return p
}

// open reports whether node i may take one more worker.
func (p *placer) open(i int) bool {
	return p.load[i] < p.lo[i] || (p.extra > 0 && p.load[i] < p.hi[i])
}

// take gives node i one more worker; i must be open.
func (p *placer) take(i int) {
	if p.load[i] >= p.lo[i] {
		p.extra--
	}
	p.load[i]++
}

// best returns the open node with the highest weighted rendezvous score for
// the worker with hash wk, or -1 if none is. Some node is always open while
// workers remain: the bounds add up to exactly the number of workers.
func (p *placer) best(wk uint64) int {
	for g := range p.bestIdx {
		p.bestIdx[g] = -1
		p.bestH[g] = 0
	}
	if len(p.weights) == 1 {
		best, bestH := -1, uint64(0)
		for j, nk := range p.openKey {
			h := mix64(wk ^ nk)
			// Ties (vanishingly rare) go to the lower index, i.e. the lower
			// id, whatever the order of the open list.
			if h > bestH || best < 0 || (h == bestH && p.openIdx[j] < best) {
				best, bestH = p.openIdx[j], h
			}
		}
		return best
	}
	for j, nk := range p.openKey {
		i := p.openIdx[j]
		h := mix64(wk ^ nk)
		g := p.group[i]
		if p.bestIdx[g] < 0 || h > p.bestH[g] || (h == p.bestH[g] && i < p.bestIdx[g]) {
			p.bestH[g], p.bestIdx[g] = h, i
		}
	}
	best, bestScore := -1, 0.0
	for g, i := range p.bestIdx {
		if i < 0 {
			continue
		}
		// u in (0,1); score = w / -ln(u) is larger for larger u and w.
		u := (float64(p.bestH[g]>>11) + 0.5) / (1 << 53)
		score := float64(p.weights[g]) / -math.Log(u)
		if best < 0 || score > bestScore || (score == bestScore && i < best) {
			best, bestScore = i, score
		}
	}
	return best
}

// workerKey hashes worker w of the topology whose name hashes to th.
func workerKey(th uint64, w int) uint64 {
	return mix64(th + uint64(w+1)*0x9e3779b97f4a7c15)
}

// mix64 is the splitmix64 finalizer: a fast bijection whose output bits all
// depend on all input bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ValidateTopology reports every problem of t that would make [Compute]
// refuse it, wrapped in [ErrInvalidInput], or nil.
func ValidateTopology(t Topology) error {
	_, _, err := normalize(Input{Topologies: []Topology{t}})
	return err
}
