package topology

import (
	"fmt"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// SpecVersion is the version of the [Spec] format this package writes. A
// reader rejects a spec with a newer version than it knows.
const SpecVersion = 1

// Spec is a serializable description of a built topology: everything about
// it except the code (factories and custom grouping functions). A topology
// binary prints its spec, and the cluster reads it to learn the components,
// their tasks and how they connect before it places any of them.
//
// Specs encode to JSON through encoding/json (durations as Go duration
// strings such as "30s", kinds and guarantees by name) and to msgpack through
// [EncodeSpec] and [DecodeSpec]. A decoded spec should be checked with
// [Spec.Validate] before it is trusted.
type Spec struct {
	// Version is the spec format, [SpecVersion] when written by this package.
	Version int `json:"version" msgpack:"version"`
	// Name is the topology's name.
	Name string `json:"name" msgpack:"name"`
	// Config is the configuration, with defaults applied.
	Config SpecConfig `json:"config" msgpack:"config"`
	// Components are in topological order, as [Topology.Components].
	Components []ComponentSpec `json:"components" msgpack:"components"`
}

// SpecConfig is [Config] in a spec.
type SpecConfig struct {
	Guarantee          Guarantee `json:"guarantee" msgpack:"guarantee"`
	MessageTimeout     Duration  `json:"message_timeout" msgpack:"message_timeout"`
	MaxSpoutPending    int       `json:"max_spout_pending" msgpack:"max_spout_pending"`
	Ackers             int       `json:"ackers" msgpack:"ackers"`
	Workers            int       `json:"workers" msgpack:"workers"`
	MaxParallelism     int       `json:"max_parallelism" msgpack:"max_parallelism"`
	QueueSize          int       `json:"queue_size" msgpack:"queue_size"`
	BatchSize          int       `json:"batch_size" msgpack:"batch_size"`
	FlushInterval      Duration  `json:"flush_interval" msgpack:"flush_interval"`
	CheckpointInterval Duration  `json:"checkpoint_interval" msgpack:"checkpoint_interval"`
	ShutdownTimeout    Duration  `json:"shutdown_timeout" msgpack:"shutdown_timeout"`
}

// ComponentSpec describes one spout or bolt.
type ComponentSpec struct {
	ID          ComponentID   `json:"id" msgpack:"id"`
	Kind        ComponentKind `json:"kind" msgpack:"kind"`
	Parallelism int           `json:"parallelism" msgpack:"parallelism"`
	// Tick is the bolt's tick interval, or 0.
	Tick Duration `json:"tick,omitempty" msgpack:"tick,omitempty"`
	// Tasks are the component's task ids in index order.
	Tasks   []TaskID     `json:"tasks" msgpack:"tasks"`
	Outputs []StreamSpec `json:"outputs,omitempty" msgpack:"outputs,omitempty"`
	Inputs  []InputSpec  `json:"inputs,omitempty" msgpack:"inputs,omitempty"`
}

// StreamSpec describes a declared output stream.
type StreamSpec struct {
	ID     StreamID `json:"id" msgpack:"id"`
	Fields Fields   `json:"fields" msgpack:"fields"`
	Direct bool     `json:"direct,omitempty" msgpack:"direct,omitempty"`
}

// InputSpec describes one subscription of a bolt.
type InputSpec struct {
	Source   ComponentID  `json:"source" msgpack:"source"`
	Stream   StreamID     `json:"stream" msgpack:"stream"`
	Grouping GroupingKind `json:"grouping" msgpack:"grouping"`
	// Fields are the grouping fields of the fields and partial-key groupings.
	Fields Fields `json:"fields,omitempty" msgpack:"fields,omitempty"`
	// Custom is the name of a custom grouping.
	Custom string `json:"custom,omitempty" msgpack:"custom,omitempty"`
}

// Duration is a [time.Duration] that encodes as text ("1.5s"), so specs stay
// readable.
type Duration time.Duration

// MarshalText encodes d as [time.Duration.String] does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses d with [time.ParseDuration].
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	*d = Duration(v)
	return nil
}

// String returns d as [time.Duration.String] does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText encodes k as its name ("spout", "bolt").
func (k ComponentKind) MarshalText() ([]byte, error) {
	if k != KindSpout && k != KindBolt {
		return nil, fmt.Errorf("topology: unknown component kind %d", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses a component kind's name.
func (k *ComponentKind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "spout":
		*k = KindSpout
	case "bolt":
		*k = KindBolt
	default:
		return fmt.Errorf("topology: unknown component kind %q (want spout or bolt)", b)
	}
	return nil
}

// MarshalText encodes k as its name ("fields", "shuffle", ...).
func (k GroupingKind) MarshalText() ([]byte, error) {
	if int(k) >= len(groupingNames) || groupingNames[k] == "" {
		return nil, fmt.Errorf("topology: unknown grouping %d", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses a grouping's name with [ParseGroupingKind].
func (k *GroupingKind) UnmarshalText(b []byte) error {
	v, err := ParseGroupingKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Spec returns the topology's spec.
func (t *Topology) Spec() Spec {
	s := Spec{Version: SpecVersion, Name: t.name, Config: specConfig(t.config)}
	for _, c := range t.components {
		cs := ComponentSpec{
			ID:          c.ID,
			Kind:        c.Kind,
			Parallelism: c.Parallelism,
			Tick:        Duration(c.Tick),
			Tasks:       slices.Clone(c.Tasks),
		}
		for _, o := range c.Outputs {
			cs.Outputs = append(cs.Outputs, StreamSpec{ID: o.ID, Fields: cloneFields(o.Fields), Direct: o.Direct})
		}
		for _, in := range c.Inputs {
			is := InputSpec{Source: in.Source, Stream: in.Stream, Grouping: in.Grouping.Kind}
			switch in.Grouping.Kind {
			case GroupFields, GroupPartialKey:
				is.Fields = cloneFields(in.Grouping.Fields)
			case GroupCustom:
				is.Custom = in.Grouping.Name
			}
			cs.Inputs = append(cs.Inputs, is)
		}
		s.Components = append(s.Components, cs)
	}
	return s
}

// cloneFields copies f, turning an empty list into nil so that specs compare
// equal after a round trip through any encoding.
func cloneFields(f Fields) Fields {
	if len(f) == 0 {
		return nil
	}
	return slices.Clone(f)
}

func specConfig(c Config) SpecConfig {
	return SpecConfig{
		Guarantee:          c.Guarantee,
		MessageTimeout:     Duration(c.MessageTimeout),
		MaxSpoutPending:    c.MaxSpoutPending,
		Ackers:             c.Ackers,
		Workers:            c.Workers,
		MaxParallelism:     c.MaxParallelism,
		QueueSize:          c.QueueSize,
		BatchSize:          c.BatchSize,
		FlushInterval:      Duration(c.FlushInterval),
		CheckpointInterval: Duration(c.CheckpointInterval),
		ShutdownTimeout:    Duration(c.ShutdownTimeout),
	}
}

// ToConfig returns c as a [Config].
func (c SpecConfig) ToConfig() Config {
	return Config{
		Guarantee:          c.Guarantee,
		MessageTimeout:     time.Duration(c.MessageTimeout),
		MaxSpoutPending:    c.MaxSpoutPending,
		Ackers:             c.Ackers,
		Workers:            c.Workers,
		MaxParallelism:     c.MaxParallelism,
		QueueSize:          c.QueueSize,
		BatchSize:          c.BatchSize,
		FlushInterval:      time.Duration(c.FlushInterval),
		CheckpointInterval: time.Duration(c.CheckpointInterval),
		ShutdownTimeout:    time.Duration(c.ShutdownTimeout),
	}
}

// Component returns the spec of the named component.
func (s Spec) Component(id ComponentID) (ComponentSpec, bool) {
	for _, c := range s.Components {
		if c.ID == id {
			return c, true
		}
	}
	return ComponentSpec{}, false
}

// Validate checks a spec, typically a decoded one, with the rules of
// [Builder.Build] that apply without code (every rule but the factories and
// custom grouping functions), plus what a built topology guarantees: a known
// version, defaults applied to the config, and task ids assigned as Build
// assigns them. The error, when not nil, is a [*ValidationError].
func (s Spec) Validate() error {
	var ps problems
	if s.Version < 1 || s.Version > SpecVersion {
		ps.add("", "", ErrInvalidSpec, "version %d, want 1 to %d", s.Version, SpecVersion)
	}
	c := s.Config
	for _, f := range []struct {
		name string
		zero bool
	}{
		{"MessageTimeout", c.MessageTimeout == 0},
		{"MaxSpoutPending", c.MaxSpoutPending == 0},
		{"Workers", c.Workers == 0},
		{"MaxParallelism", c.MaxParallelism == 0},
		{"QueueSize", c.QueueSize == 0},
		{"BatchSize", c.BatchSize == 0},
		{"FlushInterval", c.FlushInterval == 0},
		{"CheckpointInterval", c.CheckpointInterval == 0},
		{"ShutdownTimeout", c.ShutdownTimeout == 0},
	} {
		if f.zero {
			ps.add("", "", ErrInvalidConfig, "%s is zero; a spec carries its defaults", f.name)
		}
	}

	comps := make([]*Component, len(s.Components))
	for i, cs := range s.Components {
		comp := &Component{ID: cs.ID, Kind: cs.Kind, Parallelism: cs.Parallelism, Tick: time.Duration(cs.Tick), Tasks: cs.Tasks}
		for _, o := range cs.Outputs {
			comp.Outputs = append(comp.Outputs, Stream(o))
		}
		for _, in := range cs.Inputs {
			comp.Inputs = append(comp.Inputs, Input{
				Source:   in.Source,
				Stream:   in.Stream,
				Grouping: Grouping{Kind: in.Grouping, Fields: in.Fields, Name: in.Custom},
			})
		}
		comps[i] = comp
	}
	// The config check of checkGraph reports an unset Guarantee.
	ps = append(ps, checkGraph(s.Name, c.ToConfig(), comps, false)...)
	ps = append(ps, checkTasks(comps)...)
	sortProblems(ps, comps)
	return ps.err(s.Name)
}

// checkTasks reports components whose task ids are not those Build assigns:
// consecutive ids from 1, components in name order.
func checkTasks(comps []*Component) problems {
	var ps problems
	for i, want := range taskIDs(comps) {
		if c := comps[i]; !slices.Equal(c.Tasks, want) {
			ps.add(c.ID, "", ErrInvalidSpec, "tasks are %v, want %v", c.Tasks, want)
		}
	}
	return ps
}

// EncodeSpec encodes s as msgpack.
func EncodeSpec(s Spec) ([]byte, error) {
	b, err := msgpack.Marshal(&s)
	if err != nil {
		return nil, fmt.Errorf("topology: encode spec %q: %w", s.Name, err)
	}
	return b, nil
}

// DecodeSpec decodes a msgpack spec made by [EncodeSpec]. It does not
// validate it; call [Spec.Validate].
func DecodeSpec(b []byte) (Spec, error) {
	var s Spec
	if err := msgpack.Unmarshal(b, &s); err != nil {
		return Spec{}, fmt.Errorf("topology: decode spec: %w", err)
	}
	return s, nil
}
