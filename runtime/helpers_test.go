package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

// seqSpout emits the integers [0, n) per task as ("n", int64) tuples, with
// their value as message id when reliable, re-emitting failed ones. It
// records what was acked and failed in a shared ledger.
type seqSpout struct {
	n        int
	reliable bool
	noRetry  bool
	batch    int
	rec      *spoutRecord

	tc      *topology.Context
	next    int
	retries []int64
}

type spoutRecord struct {
	mu       sync.Mutex
	acked    map[string]int // "task/value" -> times acked
	failed   int
	emitted  int
	inFlight map[topology.TaskID]int
	maxIn    map[topology.TaskID]int
}

func newSpoutRecord() *spoutRecord {
	return &spoutRecord{acked: map[string]int{}, inFlight: map[topology.TaskID]int{}, maxIn: map[topology.TaskID]int{}}
}

func (r *spoutRecord) ackedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

func (s *seqSpout) Open(_ context.Context, tc *topology.Context) error {
	s.tc = tc
	return nil
}

func (s *seqSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	b := max(s.batch, 1)
	for range b {
		var v int64
		switch {
		case len(s.retries) > 0:
			v = s.retries[0]
			s.retries = s.retries[1:]
		case s.next < s.n:
			v = int64(s.next)
			s.next++
		default:
			return nil
		}
		var id any
		if s.reliable {
			id = v
			s.rec.mu.Lock()
			s.rec.inFlight[s.tc.Task]++
			s.rec.maxIn[s.tc.Task] = max(s.rec.maxIn[s.tc.Task], s.rec.inFlight[s.tc.Task])
			s.rec.mu.Unlock()
		}
		s.rec.mu.Lock()
		s.rec.emitted++
		s.rec.mu.Unlock()
		out.Emit(topology.Values{v}, id)
	}
	return nil
}

func (s *seqSpout) Ack(id any) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.acked[fmt.Sprintf("%d/%d", s.tc.Task, id)]++
	s.rec.inFlight[s.tc.Task]--
}

func (s *seqSpout) Fail(id any) {
	s.rec.mu.Lock()
	s.rec.failed++
	s.rec.inFlight[s.tc.Task]--
	s.rec.mu.Unlock()
	if !s.noRetry {
		s.retries = append(s.retries, id.(int64))
	}
}

func (s *seqSpout) Close() error { return nil }

func seqFactory(n int, reliable bool, rec *spoutRecord) topology.SpoutFactory {
	return func() topology.Spout { return &seqSpout{n: n, reliable: reliable, rec: rec, batch: 16} }
}

// sink records every tuple it executes, then acks it.
type sink struct {
	mu     sync.Mutex
	byTask map[topology.TaskID][]topology.Values
	n      int
}

func newSink() *sink { return &sink{byTask: map[topology.TaskID][]topology.Values{}} }

func (s *sink) factory() topology.BoltFactory {
	return func() topology.Bolt {
		var task topology.TaskID
		return &funcBolt{
			prepare: func(tc *topology.Context) { task = tc.Task },
			exec: func(t topology.Tuple, out topology.Emitter) error {
				s.mu.Lock()
				s.byTask[task] = append(s.byTask[task], t.Values())
				s.n++
				s.mu.Unlock()
				out.Ack(t)
				return nil
			},
		}
	}
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// funcBolt is a bolt made of closures, for tests.
type funcBolt struct {
	prepare func(tc *topology.Context)
	exec    func(t topology.Tuple, out topology.Emitter) error
	cleanup func()
}

func (b *funcBolt) Prepare(_ context.Context, tc *topology.Context) error {
	if b.prepare != nil {
		b.prepare(tc)
	}
	return nil
}

func (b *funcBolt) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	return b.exec(t, out)
}

func (b *funcBolt) Cleanup() error {
	if b.cleanup != nil {
		b.cleanup()
	}
	return nil
}

// eventually polls cond every few milliseconds until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startTopology builds b, starts it and stops it when the test ends.
func startTopology(t testing.TB, b *topology.Builder, opts Options) *Local {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	l, err := Start(context.Background(), topo, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return l
}

// testLogger sends logs to the test's log, so they show only for failures
// and with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
