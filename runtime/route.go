package runtime

import (
	"encoding/binary"
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
	// groupMask is maxPar-1 when maxPar is a power of two (the default
	// 128), so that the key group is a mask rather than a division.
	groupMask uint64
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
		if maxPar&(maxPar-1) == 0 {
			r.groupMask = uint64(maxPar - 1)
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
		return append(dst, r.byGroup(key)), nil
	case topology.GroupPartialKey:
		key, err := r.encodeKey(values)
		if err != nil {
			return dst, err
		}
		return append(dst, r.partialKey(key)), nil
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

// byGroup returns the target of the key group of key (fields grouping).
func (r *route) byGroup(key []byte) topology.TaskID {
	if r.groupMask != 0 {
		// keygroup.Of, as a mask: h % 2^k is h & (2^k-1).
		return r.groupTask[keygroup.Hash(key)&r.groupMask]
	}
	return r.groupTask[keygroup.Of(key, r.maxPar)]
}

// partialKey returns the less loaded of key's two candidate targets.
func (r *route) partialKey(key []byte) topology.TaskID {
	h := keygroup.Hash(key)
	n := uint64(len(r.targets))
	a := int(h % n)
	// A second, independent choice: rehash with the key's hash mixed in.
	b := int(mix64(h) % n)
	if r.load[b] < r.load[a] {
		a = b
	}
	r.load[a]++
	return r.targets[a]
}

// takesString reports whether chooseString can route for r: every grouping
// but custom and direct, which need the values.
func (r *route) takesString() bool {
	switch r.kind {
	case topology.GroupShuffle, topology.GroupLocalOrShuffle, topology.GroupFields,
		topology.GroupPartialKey, topology.GroupAll, topology.GroupGlobal:
		return true
	}
	return false
}

// chooseString is choose for a tuple whose one value is the string s, not
// boxed into Values (see topology.StringEmitter). Only routes that
// takesString are asked, on streams of one field.
func (r *route) chooseString(s string, dst []topology.TaskID) []topology.TaskID {
	switch r.kind {
	case topology.GroupFields, topology.GroupPartialKey:
		if r.kind == topology.GroupFields && len(r.targets) == 1 {
			return append(dst, r.targets[0])
		}
		r.key = r.key[:0]
		for range r.fieldIdx { // each names the stream's one field
			r.key = appendKeyString(r.key, s)
		}
		if r.kind == topology.GroupFields {
			return append(dst, r.byGroup(r.key))
		}
		return append(dst, r.partialKey(r.key))
	}
	dst, _ = r.choose(nil, dst) // the other groupings ignore the values
	return dst
}

// appendKeyString appends the key encoding of s: what keygroup.AppendKey
// appends for s, without boxing s into an interface for the call.
func appendKeyString(dst []byte, s string) []byte {
	if len(s) < 0x80 && cap(dst)-len(dst) >= len(s)+2 {
		// The common short key, whose length is a one-byte uvarint.
		n := len(dst)
		dst = dst[:n+2+len(s)]
		dst[n], dst[n+1] = 's', byte(len(s))
		copy(dst[n+2:], s)
		return dst
	}
	dst = append(dst, 's')
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
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
