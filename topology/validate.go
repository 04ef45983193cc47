package topology

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// validate checks a topology made by Build. pre holds the problems Build met
// while calling the factories.
func (t *Topology) validate(pre ...Problem) error {
	ps := problems(pre)
	ps = append(ps, checkGraph(t.name, t.config, t.components, true)...)
	sortProblems(ps, t.components)
	return ps.err(t.name)
}

// sortProblems puts problems in a stable order: topology-wide first, then by
// component in declaration order, keeping each one's problems in the order
// found.
func sortProblems(ps problems, comps []*Component) {
	order := make(map[ComponentID]int, len(comps))
	for i, c := range comps {
		if _, ok := order[c.ID]; !ok {
			order[c.ID] = i + 1
		}
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return order[a.Component] - order[b.Component] })
}

// validate reports every invalid field of c, which must have had defaults
// applied: negative durations and sizes, and an unknown guarantee.
func (c Config) validate() error { return c.problems().err("") }

func (c Config) problems() problems {
	var ps problems
	if c.Guarantee < AtMostOnce || c.Guarantee > ExactlyOnce {
		ps.add("", "", ErrInvalidConfig, "Guarantee is %v", c.Guarantee)
	}
	durations := []struct {
		name string
		v    interface{ String() string }
		neg  bool
	}{
		{"MessageTimeout", c.MessageTimeout, c.MessageTimeout < 0},
		{"FlushInterval", c.FlushInterval, c.FlushInterval < 0},
		{"CheckpointInterval", c.CheckpointInterval, c.CheckpointInterval < 0},
		{"ShutdownTimeout", c.ShutdownTimeout, c.ShutdownTimeout < 0},
	}
	for _, d := range durations {
		if d.neg {
			ps.add("", "", ErrInvalidConfig, "%s is negative (%s)", d.name, d.v)
		}
	}
	sizes := []struct {
		name string
		v    int
	}{
		{"MaxSpoutPending", c.MaxSpoutPending},
		{"Ackers", c.Ackers},
		{"Workers", c.Workers},
		{"MaxParallelism", c.MaxParallelism},
		{"QueueSize", c.QueueSize},
		{"BatchSize", c.BatchSize},
	}
	for _, s := range sizes {
		if s.v < 0 {
			ps.add("", "", ErrInvalidConfig, "%s is negative (%d)", s.name, s.v)
		}
	}
	return ps
}

// checkGraph applies every rule that needs no running code. factories says
// whether the components come from a Builder (and so must have factories and
// custom grouping functions) or from a decoded Spec (which has neither).
func checkGraph(name string, cfg Config, comps []*Component, factories bool) problems {
	var ps problems
	if name == "" {
		ps.add("", "", ErrEmptyName, "the topology has no name")
	} else if why := badTopologyName(name); why != "" {
		ps.add("", "", ErrInvalidName, "topology name %q %s", name, why)
	}
	ps = append(ps, cfg.problems()...)

	byID := make(map[ComponentID]*Component, len(comps))
	spouts := 0
	for _, c := range comps {
		switch {
		case c.ID == "":
			ps.add(c.ID, "", ErrEmptyName, "a %s has an empty name", c.Kind)
		case IsReserved(string(c.ID)):
			ps.add(c.ID, "", ErrReservedName, "component names beginning with %q are reserved", reservedPrefix)
		}
		if _, dup := byID[c.ID]; dup {
			ps.add(c.ID, "", ErrDuplicateName, "two components are named %q", c.ID)
		} else {
			byID[c.ID] = c
		}
		if c.Kind == KindSpout {
			spouts++
		}
	}

	for _, c := range comps {
		ps = append(ps, checkComponent(c, cfg, byID, factories)...)
	}
	if spouts == 0 && len(comps) > 0 || len(comps) == 0 {
		ps.add("", "", ErrNoSpouts, "a topology needs at least one spout")
	}
	for _, cyc := range findCycles(comps, byID) {
		names := make([]string, len(cyc)+1)
		for i, id := range cyc {
			names[i] = string(id)
		}
		names[len(cyc)] = string(cyc[0])
		ps.add(cyc[0], "", ErrCycle, "%s", strings.Join(names, " -> "))
	}
	return ps
}

func checkComponent(c *Component, cfg Config, byID map[ComponentID]*Component, factories bool) problems {
	var ps problems
	switch c.Kind {
	case KindSpout:
		if factories && c.NewSpout == nil {
			ps.add(c.ID, "", ErrMissingFactory, "spout has a nil factory")
		}
	case KindBolt:
		if factories && c.NewBolt == nil {
			ps.add(c.ID, "", ErrMissingFactory, "bolt has a nil factory")
		}
	default:
		ps.add(c.ID, "", ErrInvalidSpec, "unknown component kind %d", c.Kind)
	}
	if c.Parallelism < 1 {
		ps.add(c.ID, "", ErrParallelism, "%d, want at least 1", c.Parallelism)
	} else if cfg.MaxParallelism > 0 && c.Parallelism > cfg.MaxParallelism {
		ps.add(c.ID, "", ErrInvalidConfig, "parallelism %d exceeds MaxParallelism %d", c.Parallelism, cfg.MaxParallelism)
	}
	if c.Tick < 0 {
		ps.add(c.ID, "", ErrInvalidConfig, "tick interval is negative (%s)", c.Tick)
	}
	if et := c.EventTime; et != nil {
		switch {
		case et.Extract == nil && et.Field == "":
			ps.add(c.ID, "", ErrInvalidConfig, "event time has neither a field nor an extractor")
		case et.Extract == nil && !slices.ContainsFunc(c.Outputs, func(s Stream) bool { return s.Fields.Index(et.Field) >= 0 }):
			ps.add(c.ID, "", ErrUnknownField, "event-time field %q is in none of its output streams", et.Field)
		}
		if et.OutOfOrderness < 0 || et.Interval < 0 {
			ps.add(c.ID, "", ErrInvalidConfig, "event time has a negative out-of-orderness or interval")
		}
	}

	// Outputs.
	declared := make(map[StreamID]bool, len(c.Outputs))
	for _, s := range c.Outputs {
		switch {
		case s.ID == "":
			ps.add(c.ID, s.ID, ErrEmptyName, "an output stream has an empty name")
		case IsReserved(string(s.ID)):
			ps.add(c.ID, s.ID, ErrReservedName, "stream names beginning with %q are reserved", reservedPrefix)
		}
		if declared[s.ID] {
			ps.add(c.ID, s.ID, ErrDuplicateName, "stream declared twice")
		}
		declared[s.ID] = true
		seen := make(map[string]bool, len(s.Fields))
		for _, f := range s.Fields {
			if f == "" {
				ps.add(c.ID, s.ID, ErrEmptyName, "a field has an empty name")
			}
			if seen[f] {
				ps.add(c.ID, s.ID, ErrDuplicateName, "field %q declared twice", f)
			}
			seen[f] = true
		}
	}

	// Inputs.
	if c.Kind == KindSpout && len(c.Inputs) > 0 {
		ps.add(c.ID, "", ErrSpoutInput, "a spout cannot subscribe to streams (it has %d inputs)", len(c.Inputs))
	}
	type sub struct {
		src ComponentID
		s   StreamID
	}
	subs := make(map[sub]bool, len(c.Inputs))
	for _, in := range c.Inputs {
		ps = append(ps, checkInput(c, in, byID, factories)...)
		k := sub{in.Source, in.Stream}
		if subs[k] {
			ps.add(c.ID, in.Stream, ErrDuplicateName, "subscribes to %q/%q twice", in.Source, in.Stream)
		}
		subs[k] = true
	}
	return ps
}

func checkInput(c *Component, in Input, byID map[ComponentID]*Component, factories bool) problems {
	var ps problems
	g := in.Grouping
	switch g.Kind {
	case GroupFields, GroupPartialKey:
		if len(g.Fields) == 0 {
			ps.add(c.ID, in.Stream, ErrGroupingFields, "%s grouping on %q/%q names no fields", g.Kind, in.Source, in.Stream)
		}
	case GroupCustom:
		if factories && g.Custom == nil {
			ps.add(c.ID, in.Stream, ErrGroupingFields, "custom grouping %q on %q/%q has a nil function", g.Name, in.Source, in.Stream)
		}
	case GroupShuffle, GroupAll, GroupGlobal, GroupDirect, GroupLocalOrShuffle:
	default:
		ps.add(c.ID, in.Stream, ErrGroupingFields, "unknown grouping %v on %q/%q", g.Kind, in.Source, in.Stream)
	}

	src, ok := byID[in.Source]
	if !ok {
		ps.add(c.ID, in.Stream, ErrUnknownComponent, "subscribes to %q, which the topology does not have", in.Source)
		return ps
	}
	s, ok := src.Output(in.Stream)
	if !ok {
		ps.add(c.ID, in.Stream, ErrUnknownStream, "subscribes to %q/%q, which %q does not declare (it declares %s)",
			in.Source, in.Stream, in.Source, streamList(src.Outputs))
		return ps
	}
	switch {
	case g.Kind == GroupDirect && !s.Direct:
		ps.add(c.ID, in.Stream, ErrDirectGrouping, "direct grouping on %q/%q, which is not declared direct", in.Source, in.Stream)
	case g.Kind != GroupDirect && s.Direct:
		ps.add(c.ID, in.Stream, ErrDirectGrouping, "%s grouping on direct stream %q/%q, which takes the direct grouping only", g.Kind, in.Source, in.Stream)
	}
	if g.Kind == GroupFields || g.Kind == GroupPartialKey {
		for _, f := range g.Fields {
			if s.Fields.Index(f) < 0 {
				ps.add(c.ID, in.Stream, ErrUnknownField, "%s grouping field %q is not among the fields %v of %q/%q",
					g.Kind, f, []string(s.Fields), in.Source, in.Stream)
			}
		}
	}
	return ps
}

func streamList(ss []Stream) string {
	if len(ss) == 0 {
		return "no streams"
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = fmt.Sprintf("%q", s.ID)
	}
	return strings.Join(names, ", ")
}

// findCycles returns one cycle per strongly connected component of the
// subscription graph that has one, each starting at its smallest name and
// listed in data-flow order (each component feeds the next). Inputs naming
// unknown components are ignored; they are reported elsewhere.
func findCycles(comps []*Component, byID map[ComponentID]*Component) [][]ComponentID {
	// succ[a] lists the components a feeds, sorted and without repeats.
	succ := make(map[ComponentID][]ComponentID, len(byID))
	ids := make([]ComponentID, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, in := range byID[id].Inputs {
			if _, ok := byID[in.Source]; ok && !slices.Contains(succ[in.Source], id) {
				succ[in.Source] = append(succ[in.Source], id)
			}
		}
	}
	for _, id := range ids {
		slices.Sort(succ[id])
	}

	// Tarjan's strongly connected components.
	index := map[ComponentID]int{}
	low := map[ComponentID]int{}
	onStack := map[ComponentID]bool{}
	var stack []ComponentID
	var sccs [][]ComponentID
	next := 0
	var strong func(v ComponentID)
	strong = func(v ComponentID) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range succ[v] {
			if _, seen := index[w]; !seen {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var scc []ComponentID
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			sccs = append(sccs, scc)
		}
	}
	for _, id := range ids {
		if _, seen := index[id]; !seen {
			strong(id)
		}
	}

	var cycles [][]ComponentID
	for _, scc := range sccs {
		slices.Sort(scc)
		start := scc[0]
		if len(scc) == 1 && !slices.Contains(succ[start], start) {
			continue
		}
		in := make(map[ComponentID]bool, len(scc))
		for _, id := range scc {
			in[id] = true
		}
		// Shortest path from start back to start within the SCC, by BFS.
		parent := map[ComponentID]ComponentID{}
		queue := []ComponentID{start}
		var last ComponentID
		found := false
		for len(queue) > 0 && !found {
			v := queue[0]
			queue = queue[1:]
			for _, w := range succ[v] {
				if !in[w] {
					continue
				}
				if w == start {
					last, found = v, true
					break
				}
				if _, seen := parent[w]; !seen {
					parent[w] = v
					queue = append(queue, w)
				}
			}
		}
		cyc := []ComponentID{}
		for v := last; v != start; v = parent[v] {
			cyc = append(cyc, v)
		}
		cyc = append(cyc, start)
		slices.Reverse(cyc)
		cycles = append(cycles, cyc)
	}
	slices.SortFunc(cycles, func(a, b []ComponentID) int { return strings.Compare(string(a[0]), string(b[0])) })
	return cycles
}

// maxNameLen bounds a topology's name, which ends up in paths and labels.
const maxNameLen = 128

// badTopologyName says what is wrong with a topology name, or "".
func badTopologyName(name string) string {
	if len(name) > maxNameLen {
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	}
	for _, r := range name {
		switch {
		case r == '/' || r == '\\' || r == ':':
			return fmt.Sprintf("contains %q", r)
		case unicode.IsSpace(r) || !unicode.IsPrint(r):
			return fmt.Sprintf("contains white space or a control character (%U)", r)
		}
	}
	return ""
}
