package kafkaspout

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	kafka "github.com/segmentio/kafka-go"

	"github.com/gale-stream/gale/topology"
)

// fakeFetcher is an in-memory fetcher whose broker calls can be made to fail.
type fakeFetcher struct {
	mu          sync.Mutex
	logs        map[topicPartition][]*Record
	fetchFails  int // the next fetchFails fetches fail
	commitFails int // the next commitFails commits fail
	committedAt map[topicPartition]int64
	commits     int
}

var errBroker = errors.New("fake broker down")

func newFake(parts map[topicPartition]int) *fakeFetcher {
	f := &fakeFetcher{logs: map[topicPartition][]*Record{}, committedAt: map[topicPartition]int64{}}
	for tp, n := range parts {
		for i := range n {
			f.logs[tp] = append(f.logs[tp], &Record{Topic: tp.Topic, Partition: tp.Partition, Offset: int64(i), Value: []byte{byte(i)}, Time: time.Now()})
		}
	}
	return f
}

func (f *fakeFetcher) partitions(context.Context, []string, *regexp.Regexp) ([]topicPartition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []topicPartition
	for tp := range f.logs {
		out = append(out, tp)
	}
	return out, nil
}

func (f *fakeFetcher) fetch(ctx context.Context, tp topicPartition, off int64) (fetchResult, error) {
	f.mu.Lock()
	if f.fetchFails > 0 {
		f.fetchFails--
		f.mu.Unlock()
		return fetchResult{}, errBroker
	}
	log := f.logs[tp]
	f.mu.Unlock()
	res := fetchResult{hwm: int64(len(log)), next: off}
	if off >= int64(len(log)) {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
		return res, nil
	}
	res.records = append(res.records, log[off:min(int(off)+10, len(log))]...)
	res.next = res.records[len(res.records)-1].Offset + 1
	return res, nil
}

func (f *fakeFetcher) listOffsets(_ context.Context, tps []topicPartition, at int64) (map[topicPartition]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[topicPartition]int64{}
	for _, tp := range tps {
		if at == kafka.FirstOffset {
			out[tp] = 0
		} else {
			out[tp] = int64(len(f.logs[tp]))
		}
	}
	return out, nil
}

func (f *fakeFetcher) committed(_ context.Context, _ string, tps []topicPartition) (map[topicPartition]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[topicPartition]int64{}
	for _, tp := range tps {
		if o, ok := f.committedAt[tp]; ok {
			out[tp] = o
		}
	}
	return out, nil
}

func (f *fakeFetcher) commit(_ context.Context, _ string, offs map[topicPartition]int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.commitFails > 0 {
		f.commitFails--
		return errBroker
	}
	f.commits++
	for tp, o := range offs {
		f.committedAt[tp] = o
	}
	return nil
}

// logRecorder is a slog handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func openFake(t *testing.T, f *fakeFetcher, logs *logRecorder) *Spout {
	t.Helper()
	s := New(Config{
		Brokers: []string{"fake:9092"}, Topics: []string{"t"}, Logger: slog.New(logs),
		CommitInterval: time.Millisecond, RetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond,
	})().(*Spout)
	s.f = f
	if err := s.Open(t.Context(), testContext("fake", 0, 1, topology.AtLeastOnce, 1000)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestFetchErrorsLoggedOncePerStateChange: a run of failed fetches is
// counted per failure, logged once when it starts and once when it ends, and
// loses no record.
func TestFetchErrorsLoggedOncePerStateChange(t *testing.T) {
	tp := topicPartition{"t", 0}
	f := newFake(map[topicPartition]int{tp: 30})
	f.fetchFails = 7
	logs := &logRecorder{}
	s := openFake(t, f, logs)
	var got []int64
	pump(t, []*Spout{s}, 5*time.Second, func(s *Spout, e emitted) {
		got = append(got, e.vals[4].(int64))
		s.Ack(e.id)
	}, func() bool { return len(got) == 30 })
	for i, off := range got {
		if off != int64(i) {
			t.Fatalf("record %d has offset %d", i, off)
		}
	}
	if n := testutil.ToFloat64(s.parts[tp].m.fetchErrors); n != 7 {
		t.Fatalf("fetch errors counted %v, want 7", n)
	}
	if w, i := logs.count("WARN kafka partition failing; retrying"), logs.count("INFO kafka partition recovered"); w != 1 || i != 1 {
		t.Fatalf("logged %d failing and %d recovered messages, want 1 and 1: %v", w, i, logs.msgs)
	}
}

// TestCommitFailuresKeepCommitPoint: failed commits are retried, counted and
// logged once; the commit that finally succeeds carries the commit point.
func TestCommitFailuresKeepCommitPoint(t *testing.T) {
	tp := topicPartition{"t", 0}
	f := newFake(map[topicPartition]int{tp: 20})
	f.commitFails = 5
	logs := &logRecorder{}
	s := openFake(t, f, logs)
	got := 0
	pump(t, []*Spout{s}, 5*time.Second, func(s *Spout, e emitted) {
		got++
		if e.vals[4].(int64) != 12 { // hold back offset 12
			s.Ack(e.id)
		}
	}, func() bool { return got == 20 })
	waitFor(t, 5*time.Second, "commit of 12", func() bool {
		_ = s.Next(t.Context(), &recorder{})
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.committedAt[tp] == 12
	})
	if n := testutil.ToFloat64(s.m.commitErrors.WithLabelValues("fake")); n != 5 {
		t.Fatalf("commit errors counted %v, want 5", n)
	}
	if w, i := logs.count("WARN kafka offset commit failing; retrying"), logs.count("INFO kafka offset commit recovered"); w != 1 || i != 1 {
		t.Fatalf("logged %d failing and %d recovered messages, want 1 and 1", w, i)
	}
	// Nothing passes the held-back record until it is acked.
	time.Sleep(10 * time.Millisecond)
	_ = s.Next(t.Context(), &recorder{})
	f.mu.Lock()
	if f.committedAt[tp] != 12 {
		t.Fatalf("committed %d past the un-acked offset 12", f.committedAt[tp])
	}
	f.mu.Unlock()
	s.Ack(MessageID{"t", 0, 12})
	waitFor(t, 5*time.Second, "commit of 20", func() bool {
		_ = s.Next(t.Context(), &recorder{})
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.committedAt[tp] == 20
	})
}

// TestParallelismChange: two tasks read and commit part of a topic, then
// three tasks (a rescaled component) resume from the commits: every record is
// read, none twice after the commit points.
func TestParallelismChangeResumes(t *testing.T) {
	parts := map[topicPartition]int{}
	for p := range int32(6) {
		parts[topicPartition{"t", p}] = 40
	}
	f := newFake(parts)
	run := func(par int, cond func(seen map[string]int) bool, seen map[string]int) {
		var spouts []*Spout
		for i := range par {
			s := New(Config{Brokers: []string{"fake"}, Topics: []string{"t"}, CommitInterval: time.Millisecond})().(*Spout)
			s.f = f
			if err := s.Open(t.Context(), testContext("resc", i, par, topology.AtLeastOnce, 1000)); err != nil {
				t.Fatal(err)
			}
			spouts = append(spouts, s)
		}
		pump(t, spouts, 5*time.Second, func(s *Spout, e emitted) {
			seen[rid(e)]++
			s.Ack(e.id)
		}, func() bool { return cond(seen) })
		for _, s := range spouts {
			_ = s.Close()
		}
	}
	seen := map[string]int{}
	run(2, func(seen map[string]int) bool { return len(seen) >= 100 }, seen)
	f.mu.Lock()
	committed := 0
	for _, o := range f.committedAt {
		committed += int(o)
	}
	f.mu.Unlock()
	// Every emitted tuple was acked at once, and Close commits what is
	// committable, so the commits cover exactly what was read.
	if committed != len(seen) {
		t.Fatalf("two tasks committed %d records, want the %d read", committed, len(seen))
	}
	run(3, func(seen map[string]int) bool { return len(seen) == 240 }, seen)
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s read %d times", id, n)
		}
	}
}
