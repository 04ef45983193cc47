package window

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testMaxPar = 16

// services offers a Backend to a bolt, as the runtime will.
type services struct{ be *state.Backend }

func (s services) StateBackend() *state.Backend { return s.be }

// emission is one tuple a bolt emitted, with the watermark the harness had
// handed it when it did.
type emission struct {
	stream topology.StreamID
	values topology.Values
	wm     int64
}

// recorder is a topology.Emitter that records everything.
type recorder struct {
	wm      int64
	emitted []emission
	acked   int
	failed  int
	errs    []error
}

func (r *recorder) Emit(values topology.Values, anchors ...topology.Tuple) {
	r.EmitStream(topology.DefaultStream, values, anchors...)
}
func (r *recorder) EmitStream(stream topology.StreamID, values topology.Values, _ ...topology.Tuple) {
	r.emitted = append(r.emitted, emission{stream, values, r.wm})
}
func (r *recorder) EmitDirect(_ topology.TaskID, stream topology.StreamID, values topology.Values, _ ...topology.Tuple) {
	r.EmitStream(stream, values)
}
func (r *recorder) Ack(topology.Tuple)    { r.acked++ }
func (r *recorder) Fail(topology.Tuple)   { r.failed++ }
func (r *recorder) ReportError(err error) { r.errs = append(r.errs, err) }

func openStore(t testing.TB, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, state.Options{Logger: quiet, CacheSize: 4 << 20, MemTableSize: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func scopeOf(comp string, task, parallelism int) state.Scope {
	return state.Scope{Topology: "t", Component: comp, Task: task, MaxParallelism: testMaxPar,
		Groups: keygroup.RangeOf(task, parallelism, testMaxPar)}
}

// harness drives one window bolt task directly: Prepare, Execute and
// OnWatermark, with a real Backend.
type harness struct {
	t    testing.TB
	be   *state.Backend
	bolt *bolt
	rec  *recorder
	in   topology.Fields
}

func newHarness(t testing.TB, store *state.Store, scope state.Scope, cfg Config, in topology.Fields) *harness {
	t.Helper()
	return newHarnessFor(t, store, scope, New(cfg)().(*bolt), in)
}

func (h *harness) close() {
	h.t.Helper()
	if err := h.be.Close(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) tuple(values ...any) {
	h.t.Helper()
	tup := topology.NewTuple("src", topology.DefaultStream, 1, h.in, values)
	before := h.rec.acked
	if err := h.bolt.Execute(context.Background(), tup, h.rec); err != nil {
		h.t.Fatalf("execute %v: %v", values, err)
	}
	if h.rec.acked != before+1 {
		h.t.Fatalf("execute %v: acked %d times", values, h.rec.acked-before)
	}
}

func (h *harness) tick() {
	h.t.Helper()
	tup := topology.NewTuple(topology.SystemComponent, topology.TickStream, 0, nil, nil)
	if err := h.bolt.Execute(context.Background(), tup, h.rec); err != nil {
		h.t.Fatalf("tick: %v", err)
	}
}

func (h *harness) watermark(ms int64) {
	h.t.Helper()
	wm := time.UnixMilli(ms)
	if ms == math.MaxInt64 {
		wm = topology.EndOfTime
	}
	if ms > h.rec.wm {
		h.rec.wm = ms
	}
	if err := h.bolt.OnWatermark(context.Background(), wm, h.rec); err != nil {
		h.t.Fatalf("watermark %d: %v", ms, err)
	}
}

// results returns the emissions on stream.
func (h *harness) on(stream topology.StreamID) []emission {
	var out []emission
	for _, e := range h.rec.emitted {
		if e.stream == stream {
			out = append(out, e)
		}
	}
	return out
}

// taskOf is the task the fields grouping sends key k to.
func taskOf(k any, parallelism int) int {
	g := keygroup.Of(keygroup.AppendKey(nil, k), testMaxPar)
	return keygroup.Task(g, parallelism, testMaxPar)
}

// newHarnessFor is newHarness for a bolt made by a ready constructor.
func newHarnessFor(t testing.TB, store *state.Store, scope state.Scope, b *bolt, in topology.Fields) *harness {
	t.Helper()
	be, err := store.Task(scope)
	if err != nil {
		t.Fatal(err)
	}
	tc := &topology.Context{
		Topology: scope.Topology, Component: topology.ComponentID(scope.Component),
		Task: topology.TaskID(scope.Task + 1), Index: scope.Task, Parallelism: 1,
		Config: topology.Config{MaxParallelism: testMaxPar}, Logger: quiet, Services: services{be},
	}
	if err := b.Prepare(t.Context(), tc); err != nil {
		_ = be.Close()
		t.Fatal(err)
	}
	return &harness{t: t, be: be, bolt: b, rec: &recorder{wm: math.MinInt64}, in: in}
}
