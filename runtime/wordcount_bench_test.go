package runtime_test

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

// The word count every sub-benchmark runs: one generator task, two split
// tasks, two count tasks, a 1,000-word vocabulary and 10-word sentences from
// a fixed seed. One iteration counts benchSentences sentences and checks the
// totals against gen.Expected.
const (
	benchSentences = 100_000
	benchWords     = 10
	benchSplit     = 2
	benchCount     = 2
	benchSeed      = 42
)

func benchConfig() gen.SentenceConfig {
	return gen.SentenceConfig{Seed: benchSeed, VocabularySize: 1000, WordsPerSentence: benchWords, Limit: benchSentences}
}

// BenchmarkWordCount compares the engine with and without acking against a
// hand-written pipeline of goroutines and channels doing the same work.
func BenchmarkWordCount(b *testing.B) {
	want := gen.Expected(benchConfig(), 1)
	b.Run("baseline", func(b *testing.B) {
		var words int64
		for b.Loop() {
			got := baselineWordCount(benchConfig())
			checkCounts(b, got, want)
			words += benchSentences * benchWords
		}
		b.ReportMetric(float64(words)/b.Elapsed().Seconds(), "words/s")
	})
	for _, g := range []topology.Guarantee{topology.AtMostOnce, topology.AtLeastOnce} {
		b.Run(g.String(), func(b *testing.B) {
			var words int64
			for b.Loop() {
				got := engineWordCount(b, g, benchConfig())
				checkCounts(b, got, want)
				words += benchSentences * benchWords
			}
			b.ReportMetric(float64(words)/b.Elapsed().Seconds(), "words/s")
		})
	}
}

// BenchmarkExactlyOnceCost measures what exactly-once costs the word count
// at a one-second checkpoint interval: the same topology at-most-once and
// exactly-once, with 1,000,000 sentences (10M words, several checkpoints)
// per iteration. The count bolt counts in memory in both, so the difference
// is the cost of barriers, alignment and checkpoints alone;
// BenchmarkKeyedStateEngine in package state measures keyed state.
func BenchmarkExactlyOnceCost(b *testing.B) {
	cfg := benchConfig()
	cfg.Limit = 1_000_000
	want := gen.Expected(cfg, 1)
	for _, g := range []topology.Guarantee{topology.AtMostOnce, topology.ExactlyOnce} {
		b.Run(g.String(), func(b *testing.B) {
			var words int64
			for b.Loop() {
				got := engineWordCount(b, g, cfg)
				checkCounts(b, got, want)
				words += cfg.Limit * benchWords
			}
			b.ReportMetric(float64(words)/b.Elapsed().Seconds(), "words/s")
		})
	}
}

// BenchmarkWordCountRatios runs the three word counts of
// BenchmarkWordCount one after the other in every iteration, so that all
// three see the same machine: the sub-benchmarks of BenchmarkWordCount run
// one after the other for seconds each, and on a shared machine the load
// can change between them. It reports each one's words/s and the ratios the
// targets are stated in (at-most-once/baseline, at-least-once/at-most-once),
// over the summed times of every iteration.
func BenchmarkWordCountRatios(b *testing.B) {
	want := gen.Expected(benchConfig(), 1)
	var base, amo, alo time.Duration
	var words int64
	timed := func(d *time.Duration, run func() map[string]int64) {
		start := time.Now()
		got := run()
		*d += time.Since(start)
		checkCounts(b, got, want)
	}
	for b.Loop() {
		timed(&base, func() map[string]int64 { return baselineWordCount(benchConfig()) })
		timed(&amo, func() map[string]int64 { return engineWordCount(b, topology.AtMostOnce, benchConfig()) })
		timed(&alo, func() map[string]int64 { return engineWordCount(b, topology.AtLeastOnce, benchConfig()) })
		words += benchSentences * benchWords
	}
	b.ReportMetric(float64(words)/base.Seconds(), "baseline-words/s")
	b.ReportMetric(float64(words)/amo.Seconds(), "at-most-once-words/s")
	b.ReportMetric(float64(words)/alo.Seconds(), "at-least-once-words/s")
	b.ReportMetric(base.Seconds()/amo.Seconds(), "amo/baseline")
	b.ReportMetric(amo.Seconds()/alo.Seconds(), "alo/amo")
}

func checkCounts(b *testing.B, got, want map[string]int64) {
	b.Helper()
	if !maps.Equal(got, want) {
		var gotN, wantN int64
		for _, v := range got {
			gotN += v
		}
		for _, v := range want {
			wantN += v
		}
		b.Fatalf("counted %d words in %d keys, want %d in %d", gotN, len(got), wantN, len(want))
	}
}

// engineWordCount runs the word count topology until the generator has
// emitted every sentence, stops it gracefully (which drains it), and returns
// the merged counts.
func engineWordCount(b *testing.B, g topology.Guarantee, cfg gen.SentenceConfig) map[string]int64 {
	cfg.Reliable = g == topology.AtLeastOnce
	res := &countResult{counts: map[string]int64{}}
	exhausted := make(chan struct{})
	tb := topology.NewBuilder("wordcount-bench")
	tb.SetConfig(topology.Config{Guarantee: g, MaxSpoutPending: 4096, CheckpointInterval: time.Second})
	tb.SetSpout("sentences", signalWhenDone(gen.Sentences(cfg), cfg.Limit, exhausted), 1)
	tb.SetBolt("split", bolts.Split(" "), benchSplit).ShuffleFrom("sentences")
	tb.SetBolt("count", res.factory(), benchCount).FieldsFrom("split", "word")
	topo, err := tb.Build()
	if err != nil {
		b.Fatal(err)
	}
	l, err := runtime.Start(context.Background(), topo, runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-exhausted:
	case <-time.After(time.Minute):
		b.Fatal("generator did not finish within a minute")
	}
	if err := l.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	return res.counts
}

// countResult collects the counts of every count task when it cleans up.
type countResult struct {
	mu     sync.Mutex
	counts map[string]int64
}

func (r *countResult) factory() topology.BoltFactory {
	return func() topology.Bolt {
		local := map[string]int64{}
		return &benchBolt{
			exec: func(t topology.Tuple, out topology.Emitter) {
				local[t.StringAt(0)]++
				out.Ack(t)
			},
			cleanup: func() {
				r.mu.Lock()
				defer r.mu.Unlock()
				for k, v := range local {
					r.counts[k] += v
				}
			},
		}
	}
}

type benchBolt struct {
	exec    func(topology.Tuple, topology.Emitter)
	cleanup func()
}

func (b *benchBolt) Prepare(context.Context, *topology.Context) error { return nil }
func (b *benchBolt) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	b.exec(t, out)
	return nil
}
func (b *benchBolt) Cleanup() error { b.cleanup(); return nil }

// signalWhenDone wraps a spout factory of a single task and closes done once
// the spout has emitted limit tuples.
func signalWhenDone(f topology.SpoutFactory, limit int64, done chan struct{}) topology.SpoutFactory {
	return func() topology.Spout { return &countingSpout{Spout: f(), limit: limit, done: done} }
}

type countingSpout struct {
	topology.Spout
	limit, n int64
	done     chan struct{}
	out      countingEmitter
}

func (s *countingSpout) DeclareOutputs(o *topology.Outputs) {
	if d, ok := s.Spout.(topology.OutputDeclarer); ok {
		d.DeclareOutputs(o)
	}
}

func (s *countingSpout) Next(ctx context.Context, out topology.SpoutEmitter) error {
	s.out.SpoutEmitter, s.out.n = out, &s.n
	err := s.Spout.Next(ctx, &s.out)
	if s.n >= s.limit && s.done != nil {
		close(s.done)
		s.done = nil
	}
	return err
}

type countingEmitter struct {
	topology.SpoutEmitter
	n *int64
}

func (e *countingEmitter) Emit(v topology.Values, id any) {
	*e.n++
	e.SpoutEmitter.Emit(v, id)
}

// baselineWordCount is the same word count without the engine: goroutines
// exchanging batches of 256 words over channels.
func baselineWordCount(cfg gen.SentenceConfig) map[string]int64 {
	const batch = 256
	vocab := gen.Vocabulary(cfg.VocabularySize, cfg.Seed)
	sentences := make([]chan []string, benchSplit)
	words := make([]chan []string, benchCount)
	for i := range sentences {
		sentences[i] = make(chan []string, 16)
	}
	for i := range words {
		words[i] = make(chan []string, 16)
	}
	var split, count sync.WaitGroup
	seed := maphash.MakeSeed()
	for i := range benchSplit {
		split.Go(func() {
			out := make([][]string, benchCount)
			for ss := range sentences[i] {
				for _, s := range ss {
					for _, w := range strings.Split(s, " ") {
						c := int(maphash.String(seed, w) % benchCount)
						out[c] = append(out[c], w)
						if len(out[c]) == batch {
							words[c] <- out[c]
							out[c] = make([]string, 0, batch)
						}
					}
				}
			}
			for c, ws := range out {
				if len(ws) > 0 {
					words[c] <- ws
				}
			}
		})
	}
	results := make([]map[string]int64, benchCount)
	for i := range benchCount {
		results[i] = map[string]int64{}
		count.Go(func() {
			for ws := range words[i] {
				for _, w := range ws {
					results[i][w]++
				}
			}
		})
	}
	// The generator: the same sentences gen.Sentences makes for task 0.
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15))
	var sb strings.Builder
	next := 0
	buf := make([]string, 0, batch/benchWords)
	for range cfg.Limit {
		sb.Reset()
		for w := range cfg.WordsPerSentence {
			if w > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(vocab[rng.IntN(len(vocab))])
		}
		buf = append(buf, sb.String())
		if len(buf) == cap(buf) {
			sentences[next] <- buf
			next = (next + 1) % benchSplit
			buf = make([]string, 0, batch/benchWords)
		}
	}
	if len(buf) > 0 {
		sentences[next] <- buf
	}
	for _, c := range sentences {
		close(c)
	}
	split.Wait()
	for _, c := range words {
		close(c)
	}
	count.Wait()
	merged := map[string]int64{}
	for _, r := range results {
		for k, v := range r {
			merged[k] += v
		}
	}
	return merged
}

// BenchmarkWordCountWorkers runs the at-most-once word count in one worker
// and spread over two workers in this process, linked by TCP on loopback
// (every tuple between them is encoded, framed and decoded), both reporting
// words/s.
func BenchmarkWordCountWorkers(b *testing.B) {
	want := gen.Expected(benchConfig(), 1)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var words int64
			for b.Loop() {
				got := workersWordCount(b, workers, benchConfig())
				checkCounts(b, got, want)
				words += benchSentences * benchWords
			}
			b.ReportMetric(float64(words)/b.Elapsed().Seconds(), "words/s")
		})
	}
}

func workersWordCount(b *testing.B, workers int, cfg gen.SentenceConfig) map[string]int64 {
	res := &countResult{counts: map[string]int64{}}
	exhausted := make(chan struct{})
	tb := topology.NewBuilder("wordcount-workers-bench")
	tb.SetConfig(topology.Config{Guarantee: topology.AtMostOnce})
	tb.SetSpout("sentences", signalWhenDone(gen.Sentences(cfg), cfg.Limit, exhausted), 1)
	tb.SetBolt("split", bolts.Split(" "), benchSplit).ShuffleFrom("sentences")
	tb.SetBolt("count", res.factory(), benchCount).FieldsFrom("split", "word")
	topo, err := tb.Build()
	if err != nil {
		b.Fatal(err)
	}
	var addrs []string
	for range workers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	tasks := map[topology.TaskID]int{}
	for i := 1; i <= topo.NumTasks(); i++ {
		tasks[topology.TaskID(i)] = i % workers
	}
	var ls []*runtime.Local
	for i := range workers {
		opts := runtime.Options{Logger: slog.New(slog.DiscardHandler)}
		if workers > 1 {
			opts.Worker = &runtime.WorkerPlan{Index: i, Workers: addrs, Tasks: tasks}
		}
		l, err := runtime.Start(context.Background(), topo, opts)
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
	}
	select {
	case <-exhausted:
	case <-time.After(time.Minute):
		b.Fatal("generator did not finish within a minute")
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			if err := l.Stop(context.Background()); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	return res.counts
}
