package topology

import "fmt"

// GroupingKind says how a stream's tuples are spread over a subscriber's tasks.
type GroupingKind uint8

const (
	// GroupShuffle spreads tuples evenly and at random.
	GroupShuffle GroupingKind = iota + 1
	// GroupFields sends tuples with equal values in the grouping fields to the
	// same task. It routes through key groups (see package state), so a key's
	// tuples and its keyed state meet in one task.
	GroupFields
	// GroupAll sends every tuple to every task.
	GroupAll
	// GroupGlobal sends every tuple to the task with the lowest id.
	GroupGlobal
	// GroupDirect lets the emitter choose the task (see [Emitter.EmitDirect]).
	// The stream must be declared direct.
	GroupDirect
	// GroupLocalOrShuffle prefers tasks in the emitting worker process and
	// shuffles among them; it falls back to shuffle when there are none.
	GroupLocalOrShuffle
	// GroupPartialKey sends each key to the less loaded of two candidate
	// tasks, which balances skewed keys while keeping each key on at most two
	// tasks ("The power of both choices", Nasir et al., 2015).
	GroupPartialKey
	// GroupCustom calls a user function.
	GroupCustom
)

var groupingNames = [...]string{
	GroupShuffle:        "shuffle",
	GroupFields:         "fields",
	GroupAll:            "all",
	GroupGlobal:         "global",
	GroupDirect:         "direct",
	GroupLocalOrShuffle: "local-or-shuffle",
	GroupPartialKey:     "partial-key",
	GroupCustom:         "custom",
}

func (k GroupingKind) String() string {
	if int(k) < len(groupingNames) && groupingNames[k] != "" {
		return groupingNames[k]
	}
	return fmt.Sprintf("grouping(%d)", uint8(k))
}

// ParseGroupingKind is the inverse of [GroupingKind.String].
func ParseGroupingKind(s string) (GroupingKind, error) {
	for k, n := range groupingNames {
		if n != "" && n == s {
			return GroupingKind(k), nil
		}
	}
	return 0, fmt.Errorf("topology: unknown grouping %q", s)
}

// CustomGrouping chooses the tasks a tuple goes to. targets are the
// subscriber's tasks in index order; the function appends its choice to dst
// and returns it. It is called from the emitting tasks' goroutines, possibly
// several at once, so it must not keep mutable state without a lock. A choice
// outside targets fails the emit with an error naming the stream.
type CustomGrouping func(values Values, targets []TaskID, dst []TaskID) []TaskID

// Grouping is a stream grouping: a kind plus the fields or function it needs.
type Grouping struct {
	Kind GroupingKind
	// Fields are the grouping fields of GroupFields and GroupPartialKey.
	Fields Fields
	// Custom is the function of GroupCustom.
	Custom CustomGrouping
	// Name describes a custom grouping in the topology spec.
	Name string
}

// Shuffle returns the shuffle grouping.
func Shuffle() Grouping { return Grouping{Kind: GroupShuffle} }

// ByFields returns the fields grouping on the named fields.
func ByFields(fields ...string) Grouping { return Grouping{Kind: GroupFields, Fields: fields} }

// All returns the all (broadcast) grouping.
func All() Grouping { return Grouping{Kind: GroupAll} }

// Global returns the global grouping.
func Global() Grouping { return Grouping{Kind: GroupGlobal} }

// Direct returns the direct grouping.
func Direct() Grouping { return Grouping{Kind: GroupDirect} }

// LocalOrShuffle returns the local-or-shuffle grouping.
func LocalOrShuffle() Grouping { return Grouping{Kind: GroupLocalOrShuffle} }

// PartialKey returns the partial-key grouping on the named fields.
func PartialKey(fields ...string) Grouping { return Grouping{Kind: GroupPartialKey, Fields: fields} }

// Custom returns a grouping that calls f; name describes it in the spec.
func Custom(name string, f CustomGrouping) Grouping {
	return Grouping{Kind: GroupCustom, Custom: f, Name: name}
}
