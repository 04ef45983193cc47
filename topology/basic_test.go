package topology_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gale-stream/gale/topology"
)

// recorder is a test double of topology.Emitter: it records what a bolt
// emits, acks and fails.
type recorder struct {
	emits  []emit
	acked  []topology.Tuple
	failed []topology.Tuple
	errs   []error
}

type emit struct {
	stream  topology.StreamID
	task    topology.TaskID // for EmitDirect
	values  topology.Values
	anchors []topology.Tuple
}

func (r *recorder) Emit(v topology.Values, anchors ...topology.Tuple) {
	r.EmitStream(topology.DefaultStream, v, anchors...)
}
func (r *recorder) EmitStream(s topology.StreamID, v topology.Values, anchors ...topology.Tuple) {
	r.emits = append(r.emits, emit{stream: s, values: v, anchors: anchors})
}
func (r *recorder) EmitDirect(task topology.TaskID, s topology.StreamID, v topology.Values, anchors ...topology.Tuple) {
	r.emits = append(r.emits, emit{stream: s, task: task, values: v, anchors: anchors})
}
func (r *recorder) Ack(t topology.Tuple)  { r.acked = append(r.acked, t) }
func (r *recorder) Fail(t topology.Tuple) { r.failed = append(r.failed, t) }
func (r *recorder) ReportError(err error) { r.errs = append(r.errs, err) }

func TestBasicBolt(t *testing.T) {
	boom := errors.New("boom")
	bolt := topology.Basic(topology.BasicFunc(func(_ context.Context, in topology.Tuple, out topology.BasicEmitter) error {
		out.Emit(topology.Values{in.String("w")})
		out.EmitStream("side", topology.Values{1})
		out.EmitDirect(42, "direct", topology.Values{2})
		if in.String("w") == "bad" {
			out.ReportError(boom)
			return boom
		}
		return nil
	}))
	if err := bolt.Prepare(t.Context(), &topology.Context{}); err != nil {
		t.Fatal(err)
	}
	good := topology.NewTuple("s", "default", 1, topology.Fields{"w"}, topology.Values{"good"})
	bad := topology.NewTuple("s", "default", 1, topology.Fields{"w"}, topology.Values{"bad"})

	var r recorder
	if err := bolt.Execute(t.Context(), good, &r); err != nil {
		t.Fatalf("Execute(good) = %v", err)
	}
	if len(r.acked) != 1 || r.acked[0] != topology.Tuple(good) || len(r.failed) != 0 {
		t.Fatalf("after nil: acked %v failed %v", r.acked, r.failed)
	}
	if len(r.emits) != 3 {
		t.Fatalf("emits = %d, want 3", len(r.emits))
	}
	wantStreams := []topology.StreamID{topology.DefaultStream, "side", "direct"}
	for i, e := range r.emits {
		if e.stream != wantStreams[i] {
			t.Errorf("emit %d on %q, want %q", i, e.stream, wantStreams[i])
		}
		if len(e.anchors) != 1 || e.anchors[0] != topology.Tuple(good) {
			t.Errorf("emit %d anchors = %v, want the input", i, e.anchors)
		}
	}
	if r.emits[2].task != 42 {
		t.Errorf("direct emit to task %d, want 42", r.emits[2].task)
	}

	r = recorder{}
	if err := bolt.Execute(t.Context(), bad, &r); !errors.Is(err, boom) {
		t.Fatalf("Execute(bad) = %v, want boom", err)
	}
	if len(r.acked) != 0 {
		t.Errorf("a failing BasicBolt acked its input")
	}
	if len(r.failed) != 0 {
		t.Errorf("BasicBolt failed the input itself; the runtime does that on the returned error")
	}
	if len(r.errs) != 1 || !errors.Is(r.errs[0], boom) {
		t.Errorf("ReportError not passed through: %v", r.errs)
	}
	if err := bolt.Cleanup(); err != nil {
		t.Error(err)
	}
}

type declaringBasic struct{ topology.BasicFunc }

func (declaringBasic) DeclareOutputs(o *topology.Outputs) { o.Default("upper") }

func TestBasicKeepsDeclarations(t *testing.T) {
	b := topology.NewBuilder("t")
	b.SetSpout("s", noopSpout(), 1).Output("x")
	b.SetBolt("basic", func() topology.Bolt { return topology.Basic(declaringBasic{}) }, 1).ShuffleFrom("s")
	b.SetBolt("sink", noopBolt(), 1).FieldsFrom("basic", "upper")
	topo := mustBuild(t, b)
	c, _ := topo.Component("basic")
	if st, ok := c.Output(topology.DefaultStream); !ok || len(st.Fields) != 1 || st.Fields[0] != "upper" {
		t.Errorf("outputs of a wrapped BasicBolt = %+v", c.Outputs)
	}
}

// strRecorder is a recorder that also implements AnchoredStringEmitter.
type strRecorder struct {
	recorder
	strs []string
}

func (r *strRecorder) EmitStringAnchored(s topology.StreamID, v string, anchor topology.Tuple) {
	r.strs = append(r.strs, v)
	r.emits = append(r.emits, emit{stream: s, anchors: []topology.Tuple{anchor}})
}

func TestBasicEmitString(t *testing.T) {
	bolt := topology.Basic(topology.BasicFunc(func(_ context.Context, in topology.Tuple, out topology.BasicEmitter) error {
		se, ok := out.(topology.StringEmitter)
		if !ok {
			t.Fatal("the BasicEmitter does not implement StringEmitter")
		}
		se.EmitString("words", in.String("w"))
		return nil
	}))
	in := topology.NewTuple("s", "default", 1, topology.Fields{"w"}, topology.Values{"hello"})

	// An emitter without the fast path gets an ordinary anchored emit.
	var r recorder
	if err := bolt.Execute(t.Context(), in, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.emits) != 1 || r.emits[0].stream != "words" || len(r.emits[0].values) != 1 || r.emits[0].values[0] != "hello" ||
		len(r.emits[0].anchors) != 1 || r.emits[0].anchors[0] != topology.Tuple(in) {
		t.Errorf("fallback emits = %+v, want (words, [hello]) anchored to the input", r.emits)
	}

	// One with it gets the string, anchored to the input.
	var sr strRecorder
	if err := bolt.Execute(t.Context(), in, &sr); err != nil {
		t.Fatal(err)
	}
	if len(sr.strs) != 1 || sr.strs[0] != "hello" || sr.emits[0].stream != "words" || sr.emits[0].anchors[0] != topology.Tuple(in) {
		t.Errorf("fast path: strings %v emits %+v, want [hello] on words anchored to the input", sr.strs, sr.emits)
	}
	if len(sr.acked) != 1 {
		t.Errorf("acked %d, want 1", len(sr.acked))
	}
}
