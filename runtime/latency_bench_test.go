package runtime_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

// BenchmarkWordCountLatency measures the complete latency of at-least-once
// word count trees (spout emit to the spout's Ack) at half the maximum rate:
// it first runs the topology flat out for a second to find that rate, then
// runs at half of it for three seconds and reports the exact p50 and p99 of
// every tree, as the spout saw them.
func BenchmarkWordCountLatency(b *testing.B) {
	for b.Loop() {
		maxRate := latencyRun(b, 0, time.Second).rate
		half := latencyRun(b, maxRate/2, 3*time.Second)
		b.ReportMetric(maxRate*benchWords, "max-words/s")
		b.ReportMetric(half.rate*benchWords, "words/s")
		b.ReportMetric(half.p50.Seconds()*1e3, "p50-ms")
		b.ReportMetric(half.p99.Seconds()*1e3, "p99-ms")
	}
}

type latencyResult struct {
	rate     float64 // sentences per second completed
	p50, p99 time.Duration
}

// latencyRun runs the at-least-once word count with the generator limited to
// rate sentences/s (0: unlimited) for d.
func latencyRun(b *testing.B, rate float64, d time.Duration) latencyResult {
	rec := &latencyRecorder{sent: map[any]time.Time{}}
	cfg := gen.SentenceConfig{Seed: benchSeed, VocabularySize: 1000, WordsPerSentence: benchWords, Rate: rate, Reliable: true}
	tb := topology.NewBuilder("wordcount-latency")
	tb.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce, MaxSpoutPending: 4096})
	tb.SetSpout("sentences", func() topology.Spout { return &timedSpout{Spout: gen.Sentences(cfg)(), rec: rec} }, 1)
	tb.SetBolt("split", bolts.Split(" "), benchSplit).ShuffleFrom("sentences")
	tb.SetBolt("count", bolts.Count("word", bolts.Silent()), benchCount).FieldsFrom("split", "word")
	topo, err := tb.Build()
	if err != nil {
		b.Fatal(err)
	}
	l, err := runtime.Start(context.Background(), topo, runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	// Skip the first 10% as warm-up.
	time.Sleep(d / 10)
	rec.reset()
	start := time.Now()
	time.Sleep(d)
	lat := rec.take()
	elapsed := time.Since(start)
	if err := l.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	if len(lat) == 0 {
		b.Fatal("no tree completed")
	}
	slices.Sort(lat)
	return latencyResult{
		rate: float64(len(lat)) / elapsed.Seconds(),
		p50:  lat[len(lat)/2],
		p99:  lat[len(lat)*99/100],
	}
}

type latencyRecorder struct {
	mu   sync.Mutex
	sent map[any]time.Time
	lat  []time.Duration
}

func (r *latencyRecorder) reset() {
	r.mu.Lock()
	r.lat = r.lat[:0]
	r.mu.Unlock()
}

func (r *latencyRecorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lat)
}

// timedSpout records when each message id is emitted and acked.
type timedSpout struct {
	topology.Spout
	rec *latencyRecorder
	out timedEmitter
}

func (s *timedSpout) DeclareOutputs(o *topology.Outputs) {
	s.Spout.(topology.OutputDeclarer).DeclareOutputs(o)
}

func (s *timedSpout) Next(ctx context.Context, out topology.SpoutEmitter) error {
	s.out.SpoutEmitter, s.out.rec = out, s.rec
	return s.Spout.Next(ctx, &s.out)
}

func (s *timedSpout) Ack(id any) {
	s.rec.mu.Lock()
	if t, ok := s.rec.sent[id]; ok {
		s.rec.lat = append(s.rec.lat, time.Since(t))
		delete(s.rec.sent, id)
	}
	s.rec.mu.Unlock()
	s.Spout.Ack(id)
}

type timedEmitter struct {
	topology.SpoutEmitter
	rec *latencyRecorder
}

func (e *timedEmitter) Emit(v topology.Values, id any) {
	e.rec.mu.Lock()
	e.rec.sent[id] = time.Now()
	e.rec.mu.Unlock()
	e.SpoutEmitter.Emit(v, id)
}
