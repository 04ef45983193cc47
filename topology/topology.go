package topology

import (
	"cmp"
	"slices"
	"time"
)

// ComponentKind tells spouts from bolts.
type ComponentKind uint8

const (
	KindSpout ComponentKind = iota + 1
	KindBolt
)

func (k ComponentKind) String() string {
	switch k {
	case KindSpout:
		return "spout"
	case KindBolt:
		return "bolt"
	}
	return "unknown"
}

// Stream is a declared output stream.
type Stream struct {
	ID     StreamID
	Fields Fields
	// Direct streams are consumed with the direct grouping only.
	Direct bool
}

// Input is one subscription of a bolt.
type Input struct {
	Source   ComponentID
	Stream   StreamID
	Grouping Grouping
}

// Component is a spout or bolt of a built topology. The runtime reads it;
// nothing may change it after [Builder.Build].
type Component struct {
	ID          ComponentID
	Kind        ComponentKind
	Parallelism int
	// Tick is the tick interval of a bolt, or 0 for none.
	Tick    time.Duration
	Outputs []Stream
	Inputs  []Input
	// NewSpout or NewBolt creates a task's instance, by Kind.
	NewSpout SpoutFactory
	NewBolt  BoltFactory
	// Tasks are the component's task ids in index order.
	Tasks []TaskID
	// EventTime, when set, makes the component's tasks send watermarks.
	EventTime *EventTime
}

// Output returns the declared stream id of c, if any.
func (c *Component) Output(id StreamID) (Stream, bool) {
	for _, s := range c.Outputs {
		if s.ID == id {
			return s, true
		}
	}
	return Stream{}, false
}

// Subscriber is a bolt subscribed to a stream, with its grouping.
type Subscriber struct {
	Component *Component
	Grouping  Grouping
}

// Topology is a validated, immutable topology made by [Builder.Build]. It is
// safe for concurrent use.
type Topology struct {
	name       string
	config     Config
	components []*Component // in topological order: every source before its subscribers

	byID        map[ComponentID]*Component
	subscribers map[ComponentID]map[StreamID][]Subscriber
	numTasks    int
}

// Name returns the topology's name.
func (t *Topology) Name() string { return t.name }

// Config returns the configuration with defaults applied.
func (t *Topology) Config() Config { return t.config }

// Components returns the components in topological order: spouts first, and
// every bolt after all the components it subscribes to.
func (t *Topology) Components() []*Component { return t.components }

// Component returns the named component.
func (t *Topology) Component(id ComponentID) (*Component, bool) {
	c, ok := t.byID[id]
	return c, ok
}

// Tasks returns the task ids of component id, or nil.
func (t *Topology) Tasks(id ComponentID) []TaskID {
	if c, ok := t.byID[id]; ok {
		return c.Tasks
	}
	return nil
}

// NumTasks is the number of user tasks (spout and bolt tasks); their ids run
// from 1 to NumTasks.
func (t *Topology) NumTasks() int { return t.numTasks }

// Subscribers returns the bolts subscribed to stream of component src.
func (t *Topology) Subscribers(src ComponentID, stream StreamID) []Subscriber {
	return t.subscribers[src][stream]
}

// index fills the lookup tables, sorts components topologically and assigns
// task ids. It runs after validation, so the graph is known to be acyclic.
func (t *Topology) index() {
	t.byID = make(map[ComponentID]*Component, len(t.components))
	for _, c := range t.components {
		t.byID[c.ID] = c
	}
	next := TaskID(1)
	for i, tasks := range taskIDs(t.components) {
		t.components[i].Tasks = tasks
		next += TaskID(len(tasks))
	}
	t.numTasks = int(next - 1)
	byName := slices.Clone(t.components)
	slices.SortStableFunc(byName, func(a, b *Component) int { return cmp.Compare(a.ID, b.ID) })

	t.subscribers = make(map[ComponentID]map[StreamID][]Subscriber)
	for _, c := range byName {
		for _, in := range c.Inputs {
			m := t.subscribers[in.Source]
			if m == nil {
				m = make(map[StreamID][]Subscriber)
				t.subscribers[in.Source] = m
			}
			m[in.Stream] = append(m[in.Stream], Subscriber{Component: c, Grouping: in.Grouping})
		}
	}
	t.components = topoSort(byName)
}

// topoSort orders components so that every bolt follows its sources; among
// the ready ones, spouts and then names come first, so the order is stable.
func topoSort(byName []*Component) []*Component {
	indeg := make(map[ComponentID]int, len(byName))
	for _, c := range byName {
		seen := map[ComponentID]bool{}
		for _, in := range c.Inputs {
			if !seen[in.Source] {
				seen[in.Source] = true
				indeg[c.ID]++
			}
		}
	}
	out := make([]*Component, 0, len(byName))
	done := map[ComponentID]bool{}
	for len(out) < len(byName) {
		progressed := false
		for _, c := range byName {
			if done[c.ID] || indeg[c.ID] > 0 {
				continue
			}
			done[c.ID] = true
			out = append(out, c)
			progressed = true
			for _, d := range byName {
				seen := false
				for _, in := range d.Inputs {
					if in.Source == c.ID && !seen {
						seen = true
						indeg[d.ID]--
					}
				}
			}
		}
		if !progressed { // a cycle; validation rejects these first
			break
		}
	}
	return out
}

// taskIDs returns the task ids of each of comps, by their parallelism:
// components in name order, consecutive ids from 1. Build assigns them so,
// and a spec must carry them so.
func taskIDs(comps []*Component) [][]TaskID {
	order := make([]int, len(comps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(comps[a].ID, comps[b].ID) })
	out := make([][]TaskID, len(comps))
	next := TaskID(1)
	for _, i := range order {
		tasks := make([]TaskID, max(comps[i].Parallelism, 0))
		for j := range tasks {
			tasks[j] = next
			next++
		}
		out[i] = tasks
	}
	return out
}
