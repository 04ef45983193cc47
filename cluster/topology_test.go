package cluster

import (
	"context"
	"errors"
	"testing"

	"github.com/gale-stream/gale/cluster/internal/assign"
	"github.com/gale-stream/gale/topology"
)

func TestTopologyFromSpec(t *testing.T) {
	b := topology.NewBuilder("words")
	b.SetConfig(topology.Config{Workers: 3})
	b.SetSpout("sentences", topology.SpoutFunc(func(context.Context, topology.SpoutEmitter) error { return nil }).Factory(), 2).Output("sentence")
	b.SetBolt("split", topology.BoltFunc(func(context.Context, topology.Tuple, topology.Emitter) error { return nil }).Factory(), 4).
		Output("word").ShuffleFrom("sentences")
	b.SetBolt("count", topology.BoltFunc(func(context.Context, topology.Tuple, topology.Emitter) error { return nil }).Factory(), 5).
		FieldsFrom("split", "word")
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	info, err := TopologyFromSpec(top.Spec(), [32]byte{9})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "words" || info.Workers != 3 || info.MaxParallelism != topology.DefaultMaxParallelism || info.BinarySHA256[0] != 9 {
		t.Fatalf("info %+v", info)
	}
	// The placement's task ids are the topology's.
	p, err := assign.Compute(assign.Input{Nodes: []assign.Node{{ID: "a", Slots: 4}}, Topologies: []assign.Topology{info.input()}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int32{}
	for _, w := range p.Topology("words").Workers {
		for _, ct := range w.Tasks {
			for _, task := range ct.TaskList(info.MaxParallelism) {
				got[ct.Component] = append(got[ct.Component], task.ID)
			}
		}
	}
	for _, c := range top.Components() {
		ids := map[int32]bool{}
		for _, id := range got[string(c.ID)] {
			ids[id] = true
		}
		for _, id := range c.Tasks {
			if !ids[int32(id)] {
				t.Errorf("component %s task %d not placed (placed %v)", c.ID, id, got[string(c.ID)])
			}
		}
		if len(ids) != len(c.Tasks) {
			t.Errorf("component %s: %d tasks placed, has %d", c.ID, len(ids), len(c.Tasks))
		}
	}
	back, err := topology.DecodeSpec(info.Spec)
	if err != nil || back.Name != "words" {
		t.Fatalf("spec bytes decode to %v, %v", back.Name, err)
	}

	bad := top.Spec()
	bad.Config.Workers = 0
	if _, err := TopologyFromSpec(bad, [32]byte{}); !errors.Is(err, ErrInvalidTopology) {
		t.Fatalf("invalid spec: %v, want ErrInvalidTopology", err)
	}
}
