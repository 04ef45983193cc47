package bolts

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"

	"github.com/gale-stream/gale/topology"
)

// DefaultCountField is the output field of [Count] that holds the count.
const DefaultCountField = "count"

// Counts is a sink of the counts of one or more [Count] bolts, safe for
// concurrent use: the caller makes it, passes it with [Into], and reads it
// while or after the topology runs. Every task adds what it counts, so the
// totals are right whatever the grouping.
type Counts struct {
	mu struct {
		sync.Mutex
		m map[any]int64
	}
}

// NewCounts returns an empty sink.
func NewCounts() *Counts {
	c := &Counts{}
	c.mu.m = make(map[any]int64)
	return c
}

func (c *Counts) add(key any, n int64) {
	c.mu.Lock()
	c.mu.m[key] += n
	c.mu.Unlock()
}

// Get returns the count of key (0 when never seen). Integer keys of any Go
// type are one key, as in the fields grouping.
func (c *Counts) Get(key any) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.m[countKey(key)]
}

// Len returns the number of distinct keys.
func (c *Counts) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.m)
}

// Total returns the sum of all counts.
func (c *Counts) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, v := range c.mu.m {
		n += v
	}
	return n
}

// Snapshot returns a copy of the counts. String and []byte keys are strings,
// integer keys int64.
func (c *Counts) Snapshot() map[any]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.mu.m)
}

// Strings returns a copy of the counts keyed by each key's text (fmt.Sprint),
// which suits word counts.
func (c *Counts) Strings() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.mu.m))
	for k, v := range c.mu.m {
		out[fmt.Sprint(k)] += v
	}
	return out
}

// CountOption configures [Count].
type CountOption func(*countBolt)

// Into adds every count to sink as well.
func Into(sink *Counts) CountOption { return func(b *countBolt) { b.sink = sink } }

// CountField names the output field holding the count. Default: "count".
func CountField(field string) CountOption { return func(b *countBolt) { b.countField = field } }

// Silent makes the bolt emit nothing: a terminal counter that only feeds
// its sink.
func Silent() CountOption { return func(b *countBolt) { b.silent = true } }

// Count returns a bolt that counts its inputs per value of keyField and, for
// each input, emits (key, count so far in this task) under the fields
// keyField and "count". Subscribe it with the fields grouping on keyField so
// each key is counted by one task; with [Into], a shared [Counts] gets the
// totals whatever the grouping. A key that is []byte is counted as a string,
// and integers of every Go type as int64. An input without keyField fails.
func Count(keyField string, opts ...CountOption) topology.BoltFactory {
	proto := countBolt{keyField: keyField, countField: DefaultCountField}
	for _, o := range opts {
		o(&proto)
	}
	return func() topology.Bolt {
		b := proto
		b.counts = make(map[any]int64)
		return topology.Basic(&b)
	}
}

type countBolt struct {
	keyField, countField string
	silent               bool
	sink                 *Counts
	counts               map[any]int64 // this task's counts; task goroutine only
}

func (b *countBolt) DeclareOutputs(o *topology.Outputs) {
	if !b.silent {
		o.Default(b.keyField, b.countField)
	}
}
func (b *countBolt) Prepare(context.Context, *topology.Context) error { return nil }
func (b *countBolt) Cleanup() error                                   { return nil }

func (b *countBolt) Execute(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
	raw, ok := t.Get(b.keyField)
	if !ok {
		return &topology.FieldError{Source: t.Source(), Stream: t.Stream(), Field: b.keyField, Index: -1}
	}
	key := countKey(raw)
	if !hashable(key) {
		return fmt.Errorf("bolts: count: key field %q of stream %s/%s holds an uncountable %T", b.keyField, t.Source(), t.Stream(), raw)
	}
	n, seen := b.counts[key]
	if !seen {
		// The key is kept for good: own its bytes rather than pin the
		// buffer the tuple's values were decoded into.
		key = ownKey(key)
	}
	n++
	b.counts[key] = n
	if b.sink != nil {
		b.sink.add(key, 1)
	}
	if !b.silent {
		out.Emit(topology.Values{key, n})
	}
	return nil
}

// ownKey returns a string key as a copy of its bytes, other keys as they
// are.
func ownKey(key any) any {
	if s, ok := key.(string); ok {
		return strings.Clone(s)
	}
	return key
}

// countKey turns a value into a map key: []byte into string (a []byte is not
// comparable, and equal bytes and strings are one key in the fields
// grouping too), integers into int64.
func countKey(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	if n, ok := topology.ToInt64(v); ok {
		return n
	}
	return v
}

// hashable reports whether v can be a map key without a panic.
func hashable(v any) bool {
	switch v.(type) {
	case string, int64, nil:
		return true // what countKey makes of the common keys
	}
	return reflect.ValueOf(v).Comparable()
}
