package topology

import (
	"fmt"
	"slices"
	"time"
)

// Builder assembles a topology. Its methods record what they are told and
// never fail; [Builder.Build] validates everything at once and reports every
// problem. A Builder is not safe for concurrent use.
type Builder struct {
	name        string
	config      Config
	components  []*Component
	parallelism map[ComponentID]int // set by SetParallelism
}

// NewBuilder returns a builder for a topology called name.
func NewBuilder(name string) *Builder {
	return &Builder{name: name}
}

// SetName renames the topology, as a cluster does when a program is
// submitted under another name: metrics, logs and state then carry the new
// name.
func (b *Builder) SetName(name string) *Builder {
	b.name = name
	return b
}

// SetConfig sets the topology's configuration. Zero fields take defaults.
func (b *Builder) SetConfig(c Config) *Builder {
	b.config = c
	return b
}

// SetSpout adds a spout with parallelism tasks; f creates each task's
// instance. If the instance implements [OutputDeclarer], its declarations
// are added to those made on the returned declarer.
func (b *Builder) SetSpout(id ComponentID, f SpoutFactory, parallelism int) *SpoutDeclarer {
	c := &Component{ID: id, Kind: KindSpout, Parallelism: parallelism, NewSpout: f}
	b.components = append(b.components, c)
	return &SpoutDeclarer{declarer{c}}
}

// SetBolt adds a bolt with parallelism tasks; f creates each task's instance.
// If the instance implements [OutputDeclarer], its declarations are added to
// those made on the returned declarer.
func (b *Builder) SetBolt(id ComponentID, f BoltFactory, parallelism int) *BoltDeclarer {
	c := &Component{ID: id, Kind: KindBolt, Parallelism: parallelism, NewBolt: f}
	b.components = append(b.components, c)
	return &BoltDeclarer{declarer{c}}
}

// OutputDeclarer is implemented by spouts and bolts that declare their own
// output streams, as Storm's declareOutputFields. The builder calls it once,
// on an instance made only for that purpose.
type OutputDeclarer interface {
	DeclareOutputs(d *Outputs)
}

// Outputs collects a component's stream declarations.
type Outputs struct {
	streams []Stream
}

// Default declares the default stream with the given fields.
func (o *Outputs) Default(fields ...string) { o.Stream(DefaultStream, fields...) }

// Stream declares a named stream.
func (o *Outputs) Stream(id StreamID, fields ...string) {
	o.streams = append(o.streams, Stream{ID: id, Fields: fields})
}

// DirectStream declares a named stream whose subscribers use the direct
// grouping, and to which the component emits with EmitDirect.
func (o *Outputs) DirectStream(id StreamID, fields ...string) {
	o.streams = append(o.streams, Stream{ID: id, Fields: fields, Direct: true})
}

type declarer struct{ c *Component }

func (d declarer) stream(s Stream) { d.c.Outputs = append(d.c.Outputs, s) }

// SpoutDeclarer declares a spout's outputs.
type SpoutDeclarer struct{ declarer }

// Output declares the default stream with the given fields.
func (d *SpoutDeclarer) Output(fields ...string) *SpoutDeclarer {
	d.stream(Stream{ID: DefaultStream, Fields: fields})
	return d
}

// OutputStream declares a named stream.
func (d *SpoutDeclarer) OutputStream(id StreamID, fields ...string) *SpoutDeclarer {
	d.stream(Stream{ID: id, Fields: fields})
	return d
}

// DirectStream declares a named direct stream.
func (d *SpoutDeclarer) DirectStream(id StreamID, fields ...string) *SpoutDeclarer {
	d.stream(Stream{ID: id, Fields: fields, Direct: true})
	return d
}

// BoltDeclarer declares a bolt's outputs, subscriptions and settings.
type BoltDeclarer struct{ declarer }

// Output declares the default stream with the given fields.
func (d *BoltDeclarer) Output(fields ...string) *BoltDeclarer {
	d.stream(Stream{ID: DefaultStream, Fields: fields})
	return d
}

// OutputStream declares a named stream.
func (d *BoltDeclarer) OutputStream(id StreamID, fields ...string) *BoltDeclarer {
	d.stream(Stream{ID: id, Fields: fields})
	return d
}

// DirectStream declares a named direct stream.
func (d *BoltDeclarer) DirectStream(id StreamID, fields ...string) *BoltDeclarer {
	d.stream(Stream{ID: id, Fields: fields, Direct: true})
	return d
}

// Tick asks for a tick tuple every interval (see [IsTick]). The tick goes
// through the task's queue like any input, so it arrives late when the task
// is busy, never early.
func (d *BoltDeclarer) Tick(every time.Duration) *BoltDeclarer {
	d.c.Tick = every
	return d
}

// Subscribe subscribes the bolt to stream of component src with grouping g.
func (d *BoltDeclarer) Subscribe(src ComponentID, stream StreamID, g Grouping) *BoltDeclarer {
	d.c.Inputs = append(d.c.Inputs, Input{Source: src, Stream: stream, Grouping: g})
	return d
}

// ShuffleFrom subscribes to src's default stream with the shuffle grouping.
func (d *BoltDeclarer) ShuffleFrom(src ComponentID) *BoltDeclarer {
	return d.Subscribe(src, DefaultStream, Shuffle())
}

// FieldsFrom subscribes to src's default stream with the fields grouping.
func (d *BoltDeclarer) FieldsFrom(src ComponentID, fields ...string) *BoltDeclarer {
	return d.Subscribe(src, DefaultStream, ByFields(fields...))
}

// AllFrom subscribes to src's default stream with the all grouping.
func (d *BoltDeclarer) AllFrom(src ComponentID) *BoltDeclarer {
	return d.Subscribe(src, DefaultStream, All())
}

// GlobalFrom subscribes to src's default stream with the global grouping.
func (d *BoltDeclarer) GlobalFrom(src ComponentID) *BoltDeclarer {
	return d.Subscribe(src, DefaultStream, Global())
}

// DirectFrom subscribes to src's named direct stream.
func (d *BoltDeclarer) DirectFrom(src ComponentID, stream StreamID) *BoltDeclarer {
	return d.Subscribe(src, stream, Direct())
}

// LocalOrShuffleFrom subscribes to src's default stream with the
// local-or-shuffle grouping.
func (d *BoltDeclarer) LocalOrShuffleFrom(src ComponentID) *BoltDeclarer {
	return d.Subscribe(src, DefaultStream, LocalOrShuffle())
}

// PartialKeyFrom subscribes to src's default stream with the partial-key
// grouping.
func (d *BoltDeclarer) PartialKeyFrom(src ComponentID, fields ...string) *BoltDeclarer {
	return d.Subscribe(src, DefaultStream, PartialKey(fields...))
}

// CustomFrom subscribes to src's default stream with a custom grouping.
func (d *BoltDeclarer) CustomFrom(src ComponentID, name string, f CustomGrouping) *BoltDeclarer {
	return d.Subscribe(src, DefaultStream, Custom(name, f))
}

// Build validates the topology and returns it. The error, when not nil, is a
// [*ValidationError] listing every problem found, each naming its component
// and stream.
func (b *Builder) Build() (*Topology, error) {
	t := &Topology{name: b.name, config: b.config.WithDefaults()}
	var pre []Problem
	for _, c := range b.components {
		cc := *c
		cc.Outputs = slices.Clone(c.Outputs)
		cc.Inputs = slices.Clone(c.Inputs)
		for i, in := range cc.Inputs {
			cc.Inputs[i].Grouping.Fields = slices.Clone(in.Grouping.Fields)
		}
		if err := cc.declareFromInstance(); err != nil {
			pre = append(pre, Problem{Component: cc.ID, Err: err})
		}
		t.components = append(t.components, &cc)
	}
	pre = append(pre, b.applyParallelism(t.components)...)
	if err := t.validate(pre...); err != nil {
		return nil, err
	}
	t.index()
	return t, nil
}

// declareFromInstance adds the streams the component's own instance declares.
// A nil factory is left for validation to report; a factory that returns nil
// or panics (or whose DeclareOutputs panics) is reported here.
func (c *Component) declareFromInstance() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrFactoryPanic, r)
		}
	}()
	var inst any
	switch {
	case c.Kind == KindSpout && c.NewSpout != nil:
		s := c.NewSpout()
		if s == nil {
			return fmt.Errorf("%w: spout factory returned nil", ErrMissingFactory)
		}
		inst = s
	case c.Kind == KindBolt && c.NewBolt != nil:
		b := c.NewBolt()
		if b == nil {
			return fmt.Errorf("%w: bolt factory returned nil", ErrMissingFactory)
		}
		inst = b
	default:
		return nil
	}
	if od, ok := inst.(OutputDeclarer); ok {
		var o Outputs
		od.DeclareOutputs(&o)
		c.Outputs = append(c.Outputs, o.streams...)
	}
	return nil
}
