package topology_test

import (
	"slices"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func ids(cs []*topology.Component) []topology.ComponentID {
	out := make([]topology.ComponentID, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestComponentsTopologicalOrder(t *testing.T) {
	// Declared out of order on purpose: sinks first, sources last.
	b := topology.NewBuilder("order")
	b.SetBolt("sink", noopBolt(), 1).ShuffleFrom("join").ShuffleFrom("a")
	b.SetBolt("join", noopBolt(), 1).Output("x").ShuffleFrom("a").ShuffleFrom("b")
	b.SetBolt("b", noopBolt(), 1).Output("x").ShuffleFrom("zsrc")
	b.SetBolt("a", noopBolt(), 1).Output("x").ShuffleFrom("asrc")
	b.SetSpout("zsrc", noopSpout(), 1).Output("x")
	b.SetSpout("asrc", noopSpout(), 1).Output("x")
	topo := mustBuild(t, b)
	got := ids(topo.Components())
	want := []topology.ComponentID{"asrc", "zsrc", "a", "b", "join", "sink"}
	if !slices.Equal(got, want) {
		t.Fatalf("Components() = %v, want %v", got, want)
	}
	// And the property the order promises, checked directly.
	pos := map[topology.ComponentID]int{}
	for i, id := range got {
		pos[id] = i
	}
	for _, c := range topo.Components() {
		for _, in := range c.Inputs {
			if pos[in.Source] >= pos[c.ID] {
				t.Errorf("%s comes before its source %s", c.ID, in.Source)
			}
		}
	}
}

func TestTaskIDs(t *testing.T) {
	topo := mustBuild(t, wordCount()) // sentences:2 split:3 count:4
	want := map[topology.ComponentID][]topology.TaskID{
		"count":     {1, 2, 3, 4},
		"sentences": {5, 6},
		"split":     {7, 8, 9},
	}
	for id, w := range want {
		if got := topo.Tasks(id); !slices.Equal(got, w) {
			t.Errorf("Tasks(%s) = %v, want %v", id, got, w)
		}
		c, ok := topo.Component(id)
		if !ok || !slices.Equal(c.Tasks, w) {
			t.Errorf("Component(%s).Tasks = %v", id, c.Tasks)
		}
		tc := &topology.Context{Topo: topo}
		if got := tc.ComponentTasks(id); !slices.Equal(got, w) {
			t.Errorf("Context.ComponentTasks(%s) = %v", id, got)
		}
	}
	if topo.NumTasks() != 9 {
		t.Errorf("NumTasks = %d, want 9", topo.NumTasks())
	}
	if topo.Tasks("nosuch") != nil {
		t.Errorf("Tasks of an unknown component is not nil")
	}
	if (&topology.Context{}).ComponentTasks("count") != nil {
		t.Errorf("ComponentTasks without a topology is not nil")
	}
}

func TestSubscribers(t *testing.T) {
	b := topology.NewBuilder("subs")
	b.SetSpout("src", noopSpout(), 1).Output("k").OutputStream("side", "v")
	b.SetBolt("x", noopBolt(), 2).FieldsFrom("src", "k")
	b.SetBolt("a", noopBolt(), 1).AllFrom("src").Subscribe("src", "side", topology.Global())
	topo := mustBuild(t, b)

	def := topo.Subscribers("src", topology.DefaultStream)
	if len(def) != 2 {
		t.Fatalf("default subscribers = %d, want 2", len(def))
	}
	// Subscribers come in component name order.
	if def[0].Component.ID != "a" || def[0].Grouping.Kind != topology.GroupAll {
		t.Errorf("first subscriber = %s/%v", def[0].Component.ID, def[0].Grouping.Kind)
	}
	if def[1].Component.ID != "x" || def[1].Grouping.Kind != topology.GroupFields || !slices.Equal(def[1].Grouping.Fields, topology.Fields{"k"}) {
		t.Errorf("second subscriber = %s/%v", def[1].Component.ID, def[1].Grouping)
	}
	side := topo.Subscribers("src", "side")
	if len(side) != 1 || side[0].Component.ID != "a" || side[0].Grouping.Kind != topology.GroupGlobal {
		t.Errorf("side subscribers = %+v", side)
	}
	if s := topo.Subscribers("x", topology.DefaultStream); len(s) != 0 {
		t.Errorf("x has subscribers: %v", s)
	}
}

func TestInstanceDeclaredOutputs(t *testing.T) {
	b := topology.NewBuilder("decl")
	b.SetSpout("s", func() topology.Spout { return declaringSpout{} }, 1)
	b.SetBolt("b", noopBolt(), 1).FieldsFrom("s", "line")
	topo := mustBuild(t, b)
	c, _ := topo.Component("s")
	st, ok := c.Output(topology.DefaultStream)
	if !ok || !slices.Equal(st.Fields, topology.Fields{"line"}) {
		t.Errorf("declared output = %+v, %v", st, ok)
	}
}
