package testspout

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type emitted struct {
	values topology.Values
	id     any
}

// recordingEmitter is a test double of topology.SpoutEmitter.
type recordingEmitter struct{ emits []emitted }

func (r *recordingEmitter) Emit(v topology.Values, id any) {
	r.emits = append(r.emits, emitted{v, id})
}
func (r *recordingEmitter) EmitStream(_ topology.StreamID, v topology.Values, id any) { r.Emit(v, id) }
func (r *recordingEmitter) EmitDirect(topology.TaskID, topology.StreamID, topology.Values, any) {
	panic("unexpected EmitDirect")
}
func (r *recordingEmitter) ReportError(error) {}

func (r *recordingEmitter) ids() []any {
	out := make([]any, len(r.emits))
	for i, e := range r.emits {
		out[i] = e.id
	}
	return out
}

func open(t *testing.T, f topology.SpoutFactory, index, parallelism int) topology.Spout {
	t.Helper()
	s := f()
	if err := s.Open(t.Context(), &topology.Context{Component: "in", Task: topology.TaskID(index + 1), Index: index, Parallelism: parallelism}); err != nil {
		t.Fatal(err)
	}
	return s
}

func next(t *testing.T, s topology.Spout, r *recordingEmitter, calls int) {
	t.Helper()
	for range calls {
		if err := s.Next(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func vals(n int) []topology.Values {
	out := make([]topology.Values, n)
	for i := range out {
		out[i] = topology.Values{i * 10}
	}
	return out
}

func TestFromSliceEveryTask(t *testing.T) {
	rec := NewRecorder()
	f := FromSlice(vals(5), WithRecorder(rec), Batch(2))
	var r0, r1 recordingEmitter
	s0, s1 := open(t, f, 0, 2), open(t, f, 1, 2)
	next(t, s0, &r0, 2)
	if len(r0.emits) != 4 || rec.Done() {
		t.Fatalf("after 2 calls of batch 2: %d emits, done %v", len(r0.emits), rec.Done())
	}
	next(t, s0, &r0, 3)
	next(t, s1, &r1, 5)
	for _, r := range []*recordingEmitter{&r0, &r1} {
		if len(r.emits) != 5 {
			t.Fatalf("task emitted %d, want 5", len(r.emits))
		}
		for i, e := range r.emits {
			if e.values[0] != i*10 || e.id != nil {
				t.Errorf("emit %d = %v id %v", i, e.values, e.id)
			}
		}
	}
	if !rec.Done() || rec.Emitted() != 10 {
		t.Errorf("done %v emitted %d, want true 10", rec.Done(), rec.Emitted())
	}
	if err := rec.WaitDone(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestFromSliceSplit(t *testing.T) {
	f := FromSlice(vals(7), Split(), Reliable())
	var got []any
	for i := range 3 {
		var r recordingEmitter
		next(t, open(t, f, i, 3), &r, 3)
		got = append(got, r.ids()...)
	}
	want := []any{0, 3, 6, 1, 4, 2, 5}
	if !slices.Equal(got, want) {
		t.Errorf("ids over tasks = %v, want %v", got, want)
	}
}

func TestFromSliceReliable(t *testing.T) {
	rec := NewRecorder()
	f := FromSlice(vals(4), Reliable(), WithRecorder(rec), WithFields("n"))
	s := open(t, f, 0, 1)
	var r recordingEmitter
	next(t, s, &r, 1)
	if !slices.Equal(r.ids(), []any{0, 1, 2, 3}) {
		t.Fatalf("ids = %v", r.ids())
	}
	if rec.Pending() != 4 || rec.Done() {
		t.Fatalf("pending %d done %v", rec.Pending(), rec.Done())
	}
	s.Ack(0)
	s.Ack(2)
	s.Fail(1)
	s.Fail(3)
	r.emits = nil
	next(t, s, &r, 2)
	if !slices.Equal(r.ids(), []any{1, 3}) || r.emits[0].values[0] != 10 || r.emits[1].values[0] != 30 {
		t.Fatalf("replays = %v", r.emits)
	}
	s.Ack(1)
	s.Ack(3)
	if !rec.Done() || rec.Pending() != 0 {
		t.Errorf("done %v pending %d after every ack", rec.Done(), rec.Pending())
	}
	if !slices.Equal(rec.Acked(), []int{0, 1, 2, 3}) || !slices.Equal(rec.Failed(), []int{1, 3}) {
		t.Errorf("acked %v failed %v", rec.Acked(), rec.Failed())
	}
	if rec.Emitted() != 6 {
		t.Errorf("emitted %d, want 6 (4 + 2 replays)", rec.Emitted())
	}
	b := topology.NewBuilder("t")
	b.SetSpout("in", f, 1)
	b.SetBolt("sink", topology.BoltFunc(nil).Factory(), 1).FieldsFrom("in", "n")
	if _, err := b.Build(); err != nil {
		t.Errorf("declared fields not seen by Build: %v", err)
	}
}

func TestNoRetry(t *testing.T) {
	rec := NewRecorder()
	s := open(t, FromSlice(vals(2), Reliable(), NoRetry(), WithRecorder(rec)), 0, 1)
	var r recordingEmitter
	next(t, s, &r, 1)
	s.Fail(0)
	s.Ack(1)
	r.emits = nil
	next(t, s, &r, 2)
	if len(r.emits) != 0 {
		t.Errorf("replayed %v with NoRetry", r.emits)
	}
	if !rec.Done() || !slices.Equal(rec.Failed(), []int{0}) || !slices.Equal(rec.Acked(), []int{1}) {
		t.Errorf("done %v failed %v acked %v", rec.Done(), rec.Failed(), rec.Acked())
	}
}

func TestWaitDoneTimesOut(t *testing.T) {
	rec := NewRecorder()
	open(t, FromSlice(vals(1), Reliable(), WithRecorder(rec)), 0, 2) // task 1 never opens
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := rec.WaitDone(ctx); err == nil {
		t.Error("WaitDone succeeded with a task missing")
	}
}

func TestFromChan(t *testing.T) {
	rec := NewRecorder()
	ch := make(chan topology.Values, 10)
	f := FromChan(ch, Reliable(), WithRecorder(rec), Batch(3))
	s0, s1 := open(t, f, 0, 2), open(t, f, 1, 2)
	var r0, r1 recordingEmitter
	next(t, s0, &r0, 1) // nothing ready: returns at once
	if len(r0.emits) != 0 {
		t.Fatal("emitted from an empty channel")
	}
	for i := range 5 {
		ch <- topology.Values{i}
	}
	next(t, s0, &r0, 1)
	next(t, s1, &r1, 1)
	if len(r0.emits) != 3 || len(r1.emits) != 2 {
		t.Fatalf("emits %d and %d, want 3 and 2", len(r0.emits), len(r1.emits))
	}
	ids := append(r0.ids(), r1.ids()...)
	if !slices.Equal(ids, []any{0, 1, 2, 3, 4}) {
		t.Errorf("ids = %v, want unique across tasks", ids)
	}
	close(ch)
	next(t, s0, &r0, 1)
	next(t, s1, &r1, 1)
	if rec.Done() {
		t.Fatal("done before the acks")
	}
	s1.Fail(3)
	r1.emits = nil
	next(t, s1, &r1, 1)
	if len(r1.emits) != 1 || r1.emits[0].id != 3 || r1.emits[0].values[0] != 3 {
		t.Fatalf("replay = %v", r1.emits)
	}
	for _, id := range []int{0, 1, 2} {
		s0.Ack(id)
	}
	for _, id := range []int{3, 4} {
		s1.Ack(id)
	}
	if !rec.Done() {
		t.Errorf("not done: pending %d", rec.Pending())
	}
	if err := FromChan(nil)().Open(t.Context(), &topology.Context{Component: "in"}); err == nil {
		t.Error("nil channel opened")
	}
}

// TestRecorderConcurrent drives two tasks from two goroutines, as the
// runtime would, and reads the recorder meanwhile (run with -race).
func TestRecorderConcurrent(t *testing.T) {
	rec := NewRecorder()
	f := FromSlice(vals(500), Reliable(), Split(), WithRecorder(rec))
	var wg sync.WaitGroup
	for i := range 2 {
		s := open(t, f, i, 2)
		wg.Go(func() {
			var r recordingEmitter
			for range 20 {
				r.emits = r.emits[:0]
				if err := s.Next(context.Background(), &r); err != nil {
					t.Error(err)
					return
				}
				for _, e := range r.emits {
					s.Ack(e.id)
				}
			}
		})
	}
	deadline := time.After(5 * time.Second)
	for !rec.Done() {
		_ = rec.Acked()
		select {
		case <-deadline:
			t.Fatalf("not done: pending %d, emitted %d", rec.Pending(), rec.Emitted())
		case <-time.After(time.Millisecond):
		}
	}
	wg.Wait()
	if got := rec.Acked(); len(got) != 500 || got[0] != 0 || got[499] != 499 {
		t.Errorf("acked %d ids", len(got))
	}
}
