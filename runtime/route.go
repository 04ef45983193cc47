package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/topology"
)

// route picks the receiving tasks of one subscriber of one stream, for one
// emitting task. Each emitting task has its own routes, so the round-robin
// position and partial-key loads need no lock.
type route struct {
	sub     topology.ComponentID
	kind    topology.GroupingKind
	targets []topology.TaskID
	// local are the targets in this worker, for local-or-shuffle.
	local    []topology.TaskID
	fieldIdx []int
	custom   topology.CustomGrouping
	maxPar   int

	next int     // shuffle position
	load []int64 // partial-key: tuples sent to each target by this task
	key  []byte  // scratch for key encoding
	// groupTask maps each key group to its target (fields grouping), so an
	// emit costs a lookup rather than keygroup.Task's division.
	groupTask []topology.TaskID
}

func newRoute(sub topology.Subscriber, stream topology.Stream, maxPar int, isLocal func(topology.TaskID) bool, rng *rand.Rand) (*route, error) {
	r := &route{
		sub:     sub.Component.ID,
		kind:    sub.Grouping.Kind,
		targets: sub.Component.Tasks,
		custom:  sub.Grouping.Custom,
		maxPar:  maxPar,
	}
	for _, f := range sub.Grouping.Fields {
		i := stream.Fields.Index(f)
		if i < 0 {
			return nil, fmt.Errorf("runtime: %s subscribes to stream %s with grouping on unknown field %q", r.sub, stream.ID, f)
		}
		r.fieldIdx = append(r.fieldIdx, i)
	}
	for _, t := range r.targets {
		if isLocal(t) {
			r.local = append(r.local, t)
		}
	}
	if len(r.local) == 0 {
		r.local = r.targets
	}
	// Start each emitter at a different place, so that tasks emitting in step
	// do not all hit the same target first.
	r.next = rng.IntN(len(r.targets))
	if r.kind == topology.GroupPartialKey {
		r.load = make([]int64, len(r.targets))
	}
	if r.kind == topology.GroupFields {
		r.groupTask = make([]topology.TaskID, maxPar)
		for g := range r.groupTask {
			r.groupTask[g] = r.targets[keygroup.Task(g, len(r.targets), maxPar)]
		}
	}
	return r, nil
}

// choose appends the tasks that values go to.
func (r *route) choose(values topology.Values, dst []topology.TaskID) ([]topology.TaskID, error) {
	switch r.kind {
	case topology.GroupShuffle:
		t := r.targets[r.next]
		r.next++
		if r.next == len(r.targets) {
			r.next = 0
		}
		return append(dst, t), nil
	case topology.GroupLocalOrShuffle:
		if r.next >= len(r.local) {
			r.next = 0
		}
		t := r.local[r.next]
		r.next++
		return append(dst, t), nil
	case topology.GroupFields:
		if len(r.targets) == 1 {
			return append(dst, r.targets[0]), nil
		}
		key, err := r.encodeKey(values)
		if err != nil {
			return dst, err
		}
		return append(dst, r.groupTask[keygroup.Of(key, r.maxPar)]), nil
	case topology.GroupPartialKey:
		key, err := r.encodeKey(values)
		if err != nil {
			return dst, err
		}
		h := keygroup.Hash(key)
		n := uint64(len(r.targets))
		a := int(h % n)
		// A second, independent choice: rehash with the key's hash mixed in.
		b := int(mix64(h) % n)
		if r.load[b] < r.load[a] {
			a = b
		}
		r.load[a]++
		return append(dst, r.targets[a]), nil
	case topology.GroupAll:
		return append(dst, r.targets...), nil
	case topology.GroupGlobal:
		return append(dst, slices.Min(r.targets)), nil
	case topology.GroupCustom:
		n := len(dst)
		dst = r.custom(values, r.targets, dst)
		for _, t := range dst[n:] {
			if !slices.Contains(r.targets, t) {
				return dst[:n], fmt.Errorf("runtime: custom grouping of %s chose task %d, which is not one of its tasks", r.sub, t)
			}
		}
		return dst, nil
	case topology.GroupDirect:
		return dst, fmt.Errorf("runtime: %s subscribes with the direct grouping; emit to it with EmitDirect", r.sub)
	}
	return dst, fmt.Errorf("runtime: unknown grouping %v", r.kind)
}

func (r *route) encodeKey(values topology.Values) ([]byte, error) {
	r.key = r.key[:0]
	for _, i := range r.fieldIdx {
		if i >= len(values) {
			return nil, fmt.Errorf("runtime: tuple for %s has %d values, grouping needs field #%d", r.sub, len(values), i)
		}
		r.key = keygroup.AppendKey(r.key, values[i])
	}
	return r.key, nil
}

// mix64 is the splitmix64 finaliser: a bijection that decorrelates bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
