package bolts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

func word(w any) *topology.TupleData {
	return topology.NewTuple("split", "default", 2, topology.Fields{"word"}, topology.Values{w})
}

func TestCount(t *testing.T) {
	sink := NewCounts()
	b := prepared(t, Count("word", Into(sink)))
	var got [][2]any
	for _, w := range []any{"a", "b", "a", []byte("a"), "c", "b"} {
		r, err := execute(t, b, word(w))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.emits) != 1 {
			t.Fatalf("emits = %d", len(r.emits))
		}
		got = append(got, [2]any{r.emits[0].values[0], r.emits[0].values[1]})
	}
	want := [][2]any{{"a", int64(1)}, {"b", int64(1)}, {"a", int64(2)}, {"a", int64(3)}, {"c", int64(1)}, {"b", int64(2)}}
	if !slices.Equal(got, want) {
		t.Errorf("emitted %v, want %v", got, want)
	}
	if s := sink.Strings(); !maps.Equal(s, map[string]int64{"a": 3, "b": 2, "c": 1}) {
		t.Errorf("sink = %v", s)
	}
	if sink.Get("a") != 3 || sink.Get([]byte("b")) != 2 || sink.Get("zz") != 0 || sink.Len() != 3 || sink.Total() != 6 {
		t.Errorf("Get/Len/Total wrong: %v", sink.Snapshot())
	}
	if got := outputs(t, Count("word")); !slices.Equal(got, topology.Fields{"word", "count"}) {
		t.Errorf("outputs = %v", got)
	}
}

func TestCountIntegerKeys(t *testing.T) {
	sink := NewCounts()
	b := prepared(t, Count("word", Into(sink), CountField("n")))
	for _, k := range []any{7, int64(7), uint8(7), int32(8)} {
		if _, err := execute(t, b, word(k)); err != nil {
			t.Fatal(err)
		}
	}
	if sink.Get(7) != 3 || sink.Get(uint16(8)) != 1 {
		t.Errorf("integer keys not unified: %v", sink.Snapshot())
	}
	if got := outputs(t, Count("word", CountField("n"))); !slices.Equal(got, topology.Fields{"word", "n"}) {
		t.Errorf("outputs = %v", got)
	}
}

func TestCountSilent(t *testing.T) {
	sink := NewCounts()
	b := prepared(t, Count("word", Into(sink), Silent()))
	r, err := execute(t, b, word("x"))
	if err != nil || len(r.emits) != 0 || sink.Get("x") != 1 {
		t.Errorf("silent count: emits %v err %v sink %v", r.emits, err, sink.Snapshot())
	}
	if got := outputs(t, Count("word", Silent())); got != nil {
		t.Errorf("silent count declares %v", got)
	}
}

func TestCountErrors(t *testing.T) {
	b := prepared(t, Count("word"))
	_, err := execute(t, b, topology.NewTuple("split", "default", 1, topology.Fields{"other"}, topology.Values{"x"}))
	var fe *topology.FieldError
	if !errors.As(err, &fe) || fe.Field != "word" {
		t.Errorf("missing field: err = %v", err)
	}
	_, err = execute(t, b, word([]int{1}))
	if err == nil {
		t.Error("a slice key was counted")
	}
}

// TestCountsConcurrent has several tasks feed one sink at once (run with
// -race), as the tasks of a count bolt do.
func TestCountsConcurrent(t *testing.T) {
	sink := NewCounts()
	f := Count("word", Into(sink), Silent())
	var wg sync.WaitGroup
	for task := range 4 {
		b := prepared(t, f)
		wg.Go(func() {
			for i := range 1000 {
				var r recorder
				if err := b.Execute(t.Context(), word(fmt.Sprint(i%10)), &r); err != nil {
					t.Errorf("task %d: %v", task, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if sink.Total() != 4000 || sink.Len() != 10 || sink.Get("3") != 400 {
		t.Errorf("total %d len %d count(3) %d", sink.Total(), sink.Len(), sink.Get("3"))
	}
}

// TestWordCountEndToEnd runs the word count on the in-process runtime and
// checks the exact totals the generator promises (no tuple fails here, so
// at-least-once delivers each sentence once).
func TestWordCountEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := gen.SentenceConfig{Seed: 5, Limit: 2000, Reliable: true, VocabularySize: 200}
	counts := NewCounts()
	b := topology.NewBuilder("wordcount")
	b.SetSpout("sentences", gen.Sentences(cfg), 2)
	b.SetBolt("split", Split(" "), 3).ShuffleFrom("sentences")
	b.SetBolt("count", Count("word", Into(counts)), 2).FieldsFrom("split", "word")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := gen.Expected(cfg, 2)
	var total int64
	for _, n := range want {
		total += n
	}
	l, err := runtime.Start(t.Context(), topo, runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for counts.Total() < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if got := counts.Strings(); !maps.Equal(got, want) {
		t.Errorf("counted %d words in %d keys, want %d in %d", counts.Total(), len(got), total, len(want))
	}
}

func BenchmarkCount(b *testing.B) {
	for _, sink := range []bool{false, true} {
		b.Run(fmt.Sprintf("sink=%v", sink), func(b *testing.B) {
			var opts []CountOption
			if sink {
				opts = append(opts, Into(NewCounts()))
			}
			bolt := Count("word", opts...)()
			words := make([]topology.Tuple, 1000)
			for i := range words {
				words[i] = word(fmt.Sprint("w", i))
			}
			var e nopEmitter
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := bolt.Execute(b.Context(), words[i%len(words)], &e); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "tuples/s")
		})
	}
}
