package bolts

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gale-stream/gale/topology"
)

// recorder is a test double of topology.Emitter, which the runtime
// implements: it records emits, acks and fails.
type recorder struct {
	emits  []emitted
	acked  []topology.Tuple
	failed []topology.Tuple
	errs   []error
}

type emitted struct {
	stream  topology.StreamID
	values  topology.Values
	anchors []topology.Tuple
}

func (r *recorder) Emit(v topology.Values, anchors ...topology.Tuple) {
	r.EmitStream(topology.DefaultStream, v, anchors...)
}
func (r *recorder) EmitStream(s topology.StreamID, v topology.Values, anchors ...topology.Tuple) {
	r.emits = append(r.emits, emitted{s, v, anchors})
}
func (r *recorder) EmitDirect(_ topology.TaskID, s topology.StreamID, v topology.Values, anchors ...topology.Tuple) {
	r.emits = append(r.emits, emitted{s, v, anchors})
}
func (r *recorder) Ack(t topology.Tuple)  { r.acked = append(r.acked, t) }
func (r *recorder) Fail(t topology.Tuple) { r.failed = append(r.failed, t) }
func (r *recorder) ReportError(err error) { r.errs = append(r.errs, err) }

// values returns the first value of every emit.
func (r *recorder) firsts() []any {
	out := make([]any, len(r.emits))
	for i, e := range r.emits {
		out[i] = e.values[0]
	}
	return out
}

// prepared makes a bolt from f and prepares it as task 1 of component c.
func prepared(t *testing.T, f topology.BoltFactory) topology.Bolt {
	t.Helper()
	b := f()
	if err := b.Prepare(t.Context(), &topology.Context{Topology: "test", Component: "c", Task: 1, Parallelism: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Cleanup(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// execute runs one tuple with its own recorder and checks the basic-bolt
// contract: acked on success (never failed by the bolt), emits anchored to
// the input.
func execute(t *testing.T, b topology.Bolt, in topology.Tuple) (*recorder, error) {
	t.Helper()
	var r recorder
	err := b.Execute(context.Background(), in, &r)
	if len(r.failed) != 0 {
		t.Errorf("bolt failed the input itself")
	}
	if err == nil && (len(r.acked) != 1 || r.acked[0] != in) {
		t.Errorf("input not acked once: %v", r.acked)
	}
	if err != nil && len(r.acked) != 0 {
		t.Errorf("input acked although Execute returned %v", err)
	}
	for _, e := range r.emits {
		if len(e.anchors) != 1 || e.anchors[0] != in {
			t.Errorf("emit %v not anchored to the input", e.values)
		}
	}
	return &r, err
}

// outputs returns the fields the bolt declares on the default stream, as
// Build sees them.
func outputs(t *testing.T, f topology.BoltFactory) topology.Fields {
	t.Helper()
	b := topology.NewBuilder("decl")
	b.SetSpout("s", topology.SpoutFunc(nil).Factory(), 1).Output("x")
	b.SetBolt("b", f, 1).ShuffleFrom("s")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := topo.Component("b")
	st, ok := c.Output(topology.DefaultStream)
	if !ok {
		return nil
	}
	return st.Fields
}

func sentence(s any) *topology.TupleData {
	return topology.NewTuple("src", "default", 3, topology.Fields{"sentence"}, topology.Values{s})
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		sep  string
		opts []SplitOption
		in   any
		want []any
	}{
		{"space", " ", nil, "the cow jumped", []any{"the", "cow", "jumped"}},
		{"skips empty", " ", nil, "  a  b ", []any{"a", "b"}},
		{"keeps empty", ",", []SplitOption{KeepEmpty()}, "a,,b", []any{"a", "", "b"}},
		{"white space", "", nil, "a\tb\n c", []any{"a", "b", "c"}},
		{"bytes", " ", nil, []byte("x y"), []any{"x", "y"}},
		{"empty", " ", nil, "", []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := prepared(t, Split(tt.sep, tt.opts...))
			r, err := execute(t, b, sentence(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.firsts(); !slices.Equal(got, tt.want) {
				t.Errorf("words = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSplitFields(t *testing.T) {
	if got := outputs(t, Split(" ")); !slices.Equal(got, topology.Fields{"word"}) {
		t.Errorf("default output = %v", got)
	}
	f := Split(" ", SplitIn("line"), SplitOut("token"))
	if got := outputs(t, f); !slices.Equal(got, topology.Fields{"token"}) {
		t.Errorf("output = %v", got)
	}
	b := prepared(t, f)
	in := topology.NewTuple("src", "default", 1, topology.Fields{"line"}, topology.Values{"p q"})
	r, err := execute(t, b, in)
	if err != nil || !slices.Equal(r.firsts(), []any{"p", "q"}) {
		t.Errorf("split of line = %v, %v", r.firsts(), err)
	}
}

func TestSplitMissingFieldPanics(t *testing.T) {
	b := prepared(t, Split(" "))
	in := topology.NewTuple("src", "default", 1, topology.Fields{"other"}, topology.Values{"x"})
	defer func() {
		var fe *topology.FieldError
		err, _ := recover().(error)
		if !errors.As(err, &fe) || fe.Field != "sentence" {
			t.Errorf("panic = %v, want a FieldError for sentence", err)
		}
	}()
	_ = b.Execute(context.Background(), in, &recorder{})
	t.Error("no panic")
}

// nopEmitter is a topology.Emitter that drops everything and counts emits.
type nopEmitter struct{ n int }

func (e *nopEmitter) Emit(topology.Values, ...topology.Tuple) { e.n++ }
func (e *nopEmitter) EmitStream(topology.StreamID, topology.Values, ...topology.Tuple) {
	e.n++
}
func (e *nopEmitter) EmitDirect(topology.TaskID, topology.StreamID, topology.Values, ...topology.Tuple) {
	e.n++
}
func (e *nopEmitter) Ack(topology.Tuple)  {}
func (e *nopEmitter) Fail(topology.Tuple) {}
func (e *nopEmitter) ReportError(error)   {}

func BenchmarkSplit(b *testing.B) {
	bolt := Split(" ")()
	in := sentence("the quick brown fox jumps over the lazy dog again")
	var e nopEmitter
	b.ReportAllocs()
	for b.Loop() {
		if err := bolt.Execute(b.Context(), in, &e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.n)/b.Elapsed().Seconds(), "words/s")
}
