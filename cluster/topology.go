package cluster

import (
	"fmt"

	"github.com/gale-stream/gale/topology"
)

// TopologyFromSpec builds the [TopologyInfo] of a validated topology spec,
// as printed by a topology binary, for [Node.PutTopology]. Workers and
// MaxParallelism come from the spec's config (override Workers for
// `gale submit --workers`), the components and their first task ids from
// its components, and Spec holds the msgpack encoding of s.
//
// Acker tasks are not placed: the runtime runs the ackers of each worker
// inside it.
func TopologyFromSpec(s topology.Spec, binarySHA256 [32]byte) (TopologyInfo, error) {
	if err := s.Validate(); err != nil {
		return TopologyInfo{}, fmt.Errorf("%w: %w", ErrInvalidTopology, err)
	}
	spec, err := topology.EncodeSpec(s)
	if err != nil {
		return TopologyInfo{}, fmt.Errorf("%w: %w", ErrInvalidTopology, err)
	}
	t := TopologyInfo{
		Name:           s.Name,
		BinarySHA256:   binarySHA256,
		Workers:        s.Config.Workers,
		MaxParallelism: s.Config.MaxParallelism,
		Spec:           spec,
	}
	for _, c := range s.Components {
		if len(c.Tasks) == 0 {
			return TopologyInfo{}, fmt.Errorf("%w: topology %q: component %q has no tasks", ErrInvalidTopology, s.Name, c.ID)
		}
		t.Components = append(t.Components, Component{Name: string(c.ID), Parallelism: c.Parallelism, FirstTask: int32(c.Tasks[0])})
	}
	if err := t.Validate(); err != nil {
		return TopologyInfo{}, fmt.Errorf("topology %q: %w", s.Name, err)
	}
	return t, nil
}
