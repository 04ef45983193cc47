package bolts

import (
	"context"

	"github.com/gale-stream/gale/topology"
)

// Map returns a bolt that emits fn(input) under the given fields, anchored
// to the input. fn returning nil values emits nothing (and still acks);
// fn returning an error fails the input. fn is shared by every task, so it
// must be safe for concurrent use.
func Map(fn func(t topology.Tuple) (topology.Values, error), fields ...string) topology.BoltFactory {
	return func() topology.Bolt { return topology.Basic(&mapBolt{fn: fn, fields: fields}) }
}

type mapBolt struct {
	fn     func(topology.Tuple) (topology.Values, error)
	fields topology.Fields
}

func (m *mapBolt) DeclareOutputs(o *topology.Outputs)               { o.Default(m.fields...) }
func (m *mapBolt) Prepare(context.Context, *topology.Context) error { return nil }
func (m *mapBolt) Cleanup() error                                   { return nil }

func (m *mapBolt) Execute(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
	v, err := m.fn(t)
	if err != nil {
		return err
	}
	if v != nil {
		out.Emit(v)
	}
	return nil
}

// Filter returns a bolt that passes on, anchored, the values of the inputs
// for which keep returns true, and acks the others without emitting. The
// output declares fields, which should be those of the input stream. keep is
// shared by every task, so it must be safe for concurrent use.
func Filter(keep func(t topology.Tuple) bool, fields ...string) topology.BoltFactory {
	return func() topology.Bolt { return topology.Basic(&filterBolt{keep: keep, fields: fields}) }
}

type filterBolt struct {
	keep   func(topology.Tuple) bool
	fields topology.Fields
}

func (f *filterBolt) DeclareOutputs(o *topology.Outputs)               { o.Default(f.fields...) }
func (f *filterBolt) Prepare(context.Context, *topology.Context) error { return nil }
func (f *filterBolt) Cleanup() error                                   { return nil }

func (f *filterBolt) Execute(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
	if f.keep(t) {
		// The runtime keeps the emitted values, and the input's values must
		// not be modified, so passing the same slice on is safe.
		out.Emit(t.Values())
	}
	return nil
}
