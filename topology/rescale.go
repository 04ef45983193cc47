package topology

import (
	"fmt"
	"maps"
	"slices"
)

// SetParallelism sets the parallelism of component id, declared before or
// after, overriding the one given to SetSpout or SetBolt. A cluster calls
// it when a program runs as a worker of a topology rebalanced to another
// parallelism (see [Spec.WithParallelism]). Build reports an id that names
// no component.
func (b *Builder) SetParallelism(id ComponentID, n int) *Builder {
	if b.parallelism == nil {
		b.parallelism = map[ComponentID]int{}
	}
	b.parallelism[id] = n
	return b
}

// applyParallelism applies the overrides of SetParallelism to comps and
// reports the ids that name no component.
func (b *Builder) applyParallelism(comps []*Component) []Problem {
	var ps []Problem
	for _, id := range slices.Sorted(maps.Keys(b.parallelism)) {
		found := false
		for _, c := range comps {
			if c.ID == id {
				c.Parallelism = b.parallelism[id]
				found = true
			}
		}
		if !found {
			ps = append(ps, Problem{Component: id, Err: fmt.Errorf("%w: parallelism set for %q, which the topology does not have", ErrUnknownComponent, id)})
		}
	}
	return ps
}

// WithParallelism returns a copy of s in which the components named in p
// have the given parallelism, with every component's task ids reassigned as
// Build assigns them. Keyed state follows its key groups to the new tasks
// on restore, so the parallelism of a stateful component may change up to
// the topology's MaxParallelism. The result is validated.
func (s Spec) WithParallelism(p map[ComponentID]int) (Spec, error) {
	out := s
	out.Components = slices.Clone(s.Components)
	comps := make([]*Component, len(out.Components))
	for i := range out.Components {
		comps[i] = &Component{ID: out.Components[i].ID, Parallelism: out.Components[i].Parallelism}
	}
	var ps problems
	for _, id := range slices.Sorted(maps.Keys(p)) {
		i := slices.IndexFunc(comps, func(c *Component) bool { return c.ID == id })
		if i < 0 {
			ps.add(id, "", ErrUnknownComponent, "parallelism set for %q, which the topology does not have", id)
			continue
		}
		comps[i].Parallelism = p[id]
		out.Components[i].Parallelism = p[id]
	}
	if err := ps.err(s.Name); err != nil {
		return Spec{}, err
	}
	for i, tasks := range taskIDs(comps) {
		out.Components[i].Tasks = tasks
	}
	if err := out.Validate(); err != nil {
		return Spec{}, err
	}
	return out, nil
}
