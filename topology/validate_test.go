package topology_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func noopSpout() topology.SpoutFactory {
	return topology.SpoutFunc(func(context.Context, topology.SpoutEmitter) error { return nil }).Factory()
}

func noopBolt() topology.BoltFactory {
	return topology.BoltFunc(func(context.Context, topology.Tuple, topology.Emitter) error { return nil }).Factory()
}

// declaringSpout declares its own outputs, as spouts in spouts/ do.
type declaringSpout struct {
	topology.SpoutFunc
}

func (declaringSpout) DeclareOutputs(o *topology.Outputs) { o.Default("line") }

// wordCount returns a valid builder: sentences -> split -> count.
func wordCount() *topology.Builder {
	b := topology.NewBuilder("wordcount")
	b.SetSpout("sentences", noopSpout(), 2).Output("sentence")
	b.SetBolt("split", noopBolt(), 3).Output("word").ShuffleFrom("sentences")
	b.SetBolt("count", noopBolt(), 4).Output("word", "count").FieldsFrom("split", "word")
	return b
}

func TestBuildValid(t *testing.T) {
	if _, err := wordCount().Build(); err != nil {
		t.Fatalf("Build: %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name      string
		build     func() *topology.Builder
		want      error
		component topology.ComponentID // must appear in the message
		stream    topology.StreamID    // must appear in the message when not empty
		also      []string             // further substrings of the message
	}{
		{
			name: "cycle",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("a", noopBolt(), 1).Output("x").ShuffleFrom("s").ShuffleFrom("c")
				b.SetBolt("b", noopBolt(), 1).Output("x").ShuffleFrom("a")
				b.SetBolt("c", noopBolt(), 1).Output("x").ShuffleFrom("b")
				return b
			},
			want: topology.ErrCycle, component: "a", also: []string{"a -> b -> c -> a"},
		},
		{
			name: "self loop",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("loop", noopBolt(), 1).Output("x").ShuffleFrom("s").ShuffleFrom("loop")
				return b
			},
			want: topology.ErrCycle, component: "loop", also: []string{"loop -> loop"},
		},
		{
			name: "unknown component",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).ShuffleFrom("nosuch")
				return b
			},
			want: topology.ErrUnknownComponent, component: "b", stream: "default", also: []string{"nosuch"},
		},
		{
			name: "unknown stream",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).Subscribe("s", "errors", topology.Shuffle())
				return b
			},
			want: topology.ErrUnknownStream, component: "b", stream: "errors",
		},
		{
			name: "unknown field",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).FieldsFrom("s", "y")
				return b
			},
			want: topology.ErrUnknownField, component: "b", stream: "default", also: []string{`"y"`},
		},
		{
			name: "unknown partial-key field on instance-declared stream",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", func() topology.Spout { return declaringSpout{} }, 1)
				b.SetBolt("b", noopBolt(), 1).PartialKeyFrom("s", "word")
				return b
			},
			want: topology.ErrUnknownField, component: "b", stream: "default", also: []string{`"word"`, "partial-key"},
		},
		{
			name: "duplicate component",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("s", noopBolt(), 1).ShuffleFrom("s")
				return b
			},
			want: topology.ErrDuplicateName, component: "s",
		},
		{
			name: "duplicate stream",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x").OutputStream("default", "y")
				return b
			},
			want: topology.ErrDuplicateName, component: "s", stream: "default",
		},
		{
			name: "duplicate field",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x", "x")
				return b
			},
			want: topology.ErrDuplicateName, component: "s", stream: "default", also: []string{`"x"`},
		},
		{
			name: "duplicate subscription",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).ShuffleFrom("s").AllFrom("s")
				return b
			},
			want: topology.ErrDuplicateName, component: "b", stream: "default",
		},
		{
			name: "parallelism zero",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 0).Output("x")
				return b
			},
			want: topology.ErrParallelism, component: "s", also: []string{"0"},
		},
		{
			name: "parallelism negative",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), -2).ShuffleFrom("s")
				return b
			},
			want: topology.ErrParallelism, component: "b", also: []string{"-2"},
		},
		{
			name: "direct grouping on plain stream",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).DirectFrom("s", "default")
				return b
			},
			want: topology.ErrDirectGrouping, component: "b", stream: "default",
		},
		{
			name: "shuffle grouping on direct stream",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).DirectStream("targeted", "x")
				b.SetBolt("b", noopBolt(), 1).Subscribe("s", "targeted", topology.Shuffle())
				return b
			},
			want: topology.ErrDirectGrouping, component: "b", stream: "targeted", also: []string{"shuffle"},
		},
		{
			name: "reserved component name",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("__acker", noopSpout(), 1).Output("x")
				return b
			},
			want: topology.ErrReservedName, component: "__acker",
		},
		{
			name: "reserved stream name",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).OutputStream("__tick", "x")
				return b
			},
			want: topology.ErrReservedName, component: "s", stream: "__tick",
		},
		{
			name: "no spouts",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetBolt("lonely", noopBolt(), 1)
				return b
			},
			want: topology.ErrNoSpouts,
		},
		{
			name: "empty topology",
			build: func() *topology.Builder {
				return topology.NewBuilder("t")
			},
			want: topology.ErrNoSpouts,
		},
		{
			name: "nil spout factory",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", nil, 1).Output("x")
				return b
			},
			want: topology.ErrMissingFactory, component: "s",
		},
		{
			name: "nil bolt factory",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", nil, 1).ShuffleFrom("s")
				return b
			},
			want: topology.ErrMissingFactory, component: "b",
		},
		{
			name: "factory returns nil",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", func() topology.Spout { return nil }, 1).Output("x")
				return b
			},
			want: topology.ErrMissingFactory, component: "s", also: []string{"returned nil"},
		},
		{
			name: "factory panics",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", func() topology.Bolt { panic("no config file") }, 1).ShuffleFrom("s")
				return b
			},
			want: topology.ErrFactoryPanic, component: "b", also: []string{"no config file"},
		},
		{
			name: "empty topology name",
			build: func() *topology.Builder {
				b := topology.NewBuilder("")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				return b
			},
			want: topology.ErrEmptyName, also: []string{"topology has no name"},
		},
		{
			name: "topology name with a slash",
			build: func() *topology.Builder {
				b := topology.NewBuilder("clicks/v2")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				return b
			},
			want: topology.ErrInvalidName, also: []string{`"clicks/v2"`, `'/'`},
		},
		{
			name: "topology name with a space",
			build: func() *topology.Builder {
				b := topology.NewBuilder("word count")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				return b
			},
			want: topology.ErrInvalidName, also: []string{"white space"},
		},
		{
			name: "empty component name",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("", noopBolt(), 1).ShuffleFrom("s")
				return b
			},
			want: topology.ErrEmptyName, also: []string{"bolt has an empty name"},
		},
		{
			name: "empty stream name",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).OutputStream("", "x")
				return b
			},
			want: topology.ErrEmptyName, component: "s", also: []string{"stream has an empty name"},
		},
		{
			name: "negative config duration",
			build: func() *topology.Builder {
				b := wordCount()
				b.SetConfig(topology.Config{MessageTimeout: -1})
				return b
			},
			want: topology.ErrInvalidConfig, also: []string{"MessageTimeout"},
		},
		{
			name: "negative config size",
			build: func() *topology.Builder {
				b := wordCount()
				b.SetConfig(topology.Config{QueueSize: -5})
				return b
			},
			want: topology.ErrInvalidConfig, also: []string{"QueueSize", "-5"},
		},
		{
			name: "unknown guarantee",
			build: func() *topology.Builder {
				b := wordCount()
				b.SetConfig(topology.Config{Guarantee: 9})
				return b
			},
			want: topology.ErrInvalidConfig, also: []string{"Guarantee"},
		},
		{
			name: "parallelism above max parallelism",
			build: func() *topology.Builder {
				b := wordCount()
				b.SetConfig(topology.Config{MaxParallelism: 3})
				return b
			},
			want: topology.ErrInvalidConfig, component: "count", also: []string{"MaxParallelism 3"},
		},
		{
			name: "negative tick",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).ShuffleFrom("s").Tick(-1)
				return b
			},
			want: topology.ErrInvalidConfig, component: "b", also: []string{"tick"},
		},
		{
			name: "fields grouping without fields",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).FieldsFrom("s")
				return b
			},
			want: topology.ErrGroupingFields, component: "b", stream: "default", also: []string{"no fields"},
		},
		{
			name: "custom grouping without function",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).CustomFrom("s", "by-region", nil)
				return b
			},
			want: topology.ErrGroupingFields, component: "b", stream: "default", also: []string{"by-region"},
		},
		{
			name: "unknown grouping kind",
			build: func() *topology.Builder {
				b := topology.NewBuilder("t")
				b.SetSpout("s", noopSpout(), 1).Output("x")
				b.SetBolt("b", noopBolt(), 1).Subscribe("s", "default", topology.Grouping{})
				return b
			},
			want: topology.ErrGroupingFields, component: "b", stream: "default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := tt.build().Build()
			if err == nil {
				t.Fatalf("Build succeeded (%d components), want %v", len(topo.Components()), tt.want)
			}
			if topo != nil {
				t.Errorf("Build returned a topology with an error")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("errors.Is(err, %v) = false; err:\n%v", tt.want, err)
			}
			var ve *topology.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *ValidationError", err)
			}
			// Find the problem that carries the sentinel and check what it names.
			var p *topology.Problem
			for i := range ve.Problems {
				if errors.Is(ve.Problems[i].Err, tt.want) {
					p = &ve.Problems[i]
					break
				}
			}
			if p == nil {
				t.Fatalf("no problem wraps %v: %v", tt.want, err)
			}
			if p.Component != tt.component {
				t.Errorf("problem component = %q, want %q", p.Component, tt.component)
			}
			if p.Stream != tt.stream {
				t.Errorf("problem stream = %q, want %q", p.Stream, tt.stream)
			}
			msg := err.Error()
			if tt.component != "" && !strings.Contains(msg, `component "`+string(tt.component)+`"`) {
				t.Errorf("message does not name component %q:\n%s", tt.component, msg)
			}
			if tt.stream != "" && !strings.Contains(msg, `stream "`+string(tt.stream)+`"`) {
				t.Errorf("message does not name stream %q:\n%s", tt.stream, msg)
			}
			for _, s := range tt.also {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q:\n%s", s, msg)
				}
			}
		})
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	b := topology.NewBuilder("many")
	b.SetConfig(topology.Config{BatchSize: -1})
	b.SetSpout("s", noopSpout(), 0).Output("x")
	b.SetBolt("a", noopBolt(), 1).FieldsFrom("s", "nope")
	b.SetBolt("b", nil, 1).Subscribe("ghost", "default", topology.Shuffle())
	b.SetBolt("c", noopBolt(), 1).Output("y").ShuffleFrom("d")
	b.SetBolt("d", noopBolt(), 1).Output("y").ShuffleFrom("c")
	_, err := b.Build()
	var ve *topology.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	wants := []error{
		topology.ErrInvalidConfig, topology.ErrParallelism, topology.ErrUnknownField,
		topology.ErrMissingFactory, topology.ErrUnknownComponent, topology.ErrCycle,
	}
	for _, w := range wants {
		if !errors.Is(err, w) {
			t.Errorf("errors.Is(err, %v) = false", w)
		}
	}
	if len(ve.Problems) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%v", len(ve.Problems), len(wants), err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(ve.Problems)+1 {
		t.Errorf("message has %d lines, want a heading plus one per problem:\n%v", len(lines), err)
	}
	if !strings.Contains(lines[0], `"many"`) || !strings.Contains(lines[0], "6 problems") {
		t.Errorf("heading = %q", lines[0])
	}
	// Order: the config first, then components in declaration order.
	if ve.Problems[0].Component != "" || !errors.Is(ve.Problems[0], topology.ErrInvalidConfig) {
		t.Errorf("first problem = %v, want the config", ve.Problems[0])
	}
	order := []topology.ComponentID{"", "s", "a", "b", "b", "c"}
	for i, p := range ve.Problems {
		if i < len(order) && p.Component != order[i] {
			t.Errorf("problem %d is about %q, want %q (%v)", i, p.Component, order[i], p)
		}
	}
	if !errors.Is(err, topology.ErrCycle) || !strings.Contains(err.Error(), "c -> d -> c") {
		t.Errorf("cycle not named in order:\n%v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (topology.Config{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	err := topology.Config{MessageTimeout: -1, ShutdownTimeout: -1, Workers: -1, Ackers: 2}.WithDefaults().Validate()
	var ve *topology.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("err = %v, want 3 problems", err)
	}
	for _, p := range ve.Problems {
		if !errors.Is(p, topology.ErrInvalidConfig) {
			t.Errorf("problem %v does not wrap ErrInvalidConfig", p)
		}
	}
	for _, name := range []string{"MessageTimeout", "ShutdownTimeout", "Workers"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("message lacks %s: %v", name, err)
		}
	}
}

func TestBuildDoesNotAlias(t *testing.T) {
	b := wordCount()
	t1, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	b.SetBolt("extra", noopBolt(), 1).ShuffleFrom("count")
	t2, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(t1.Components()) != 3 || len(t2.Components()) != 4 {
		t.Errorf("components: %d and %d, want 3 and 4", len(t1.Components()), len(t2.Components()))
	}
}
