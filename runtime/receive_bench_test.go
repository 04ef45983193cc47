package runtime

import (
	"fmt"
	"testing"
	"time"

	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/topology"
)

// BenchmarkReceive measures what receiving a batch frame from another
// worker costs this process, as the word count's count tasks receive
// words: decoding the frame as the transport does, turning its items into
// runtime tuples (remote.tuple), and reading each tuple's word as a bolt
// does. "eager" decodes the values in the transport (Options.LazyValues
// false, as before), "lazy" leaves them encoded for the getters; "lazy
// +Values" reads them through Values() instead, which decodes them all.
func BenchmarkReceive(b *testing.B) {
	const tuples = 512
	words := make([]string, 1000)
	for i := range words {
		words[i] = fmt.Sprintf("word%03d", i)
	}
	// Two shapes of tuple: the word count's one word, and a wide event
	// of which the bolt reads one field (a key), as a filter or a keyed
	// aggregation reads few of the fields it gets.
	shapes := []struct {
		name   string
		fields topology.Fields
		values func(i int) []any
	}{
		{"word", topology.Fields{"word"}, func(i int) []any { return []any{words[i*7%len(words)]} }},
		{"wide", topology.Fields{"user", "page", "referrer", "agent", "ts", "ms", "bytes", "status", "price", "ok"}, func(i int) []any {
			return []any{words[i*7%len(words)], "/products/" + words[i%len(words)], "https://example.com/search?q=" + words[i*3%len(words)],
				"Mozilla/5.0 (X11; Linux x86_64)", time.Unix(1.7e9+int64(i), 0).UTC(), int64(i * 13), int64(i * 1031), int64(200), 19.99, i%3 == 0}
		}},
	}
	for _, shape := range shapes {
		items := make([]wire.Item, tuples)
		for i := range items {
			items[i] = wire.Item{Kind: wire.KindTuple, Tuple: wire.Tuple{Dest: 2, SourceTask: 1, Stream: "default", Values: shape.values(i)}}
		}
		frame, err := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindBatch, Batch: wire.Batch{Items: items}})
		if err != nil {
			b.Fatal(err)
		}
		origin := &topology.Origin{Component: "split", Stream: "default", Fields: shape.fields}
		r := &remote{l: &Local{
			taskComponent: map[topology.TaskID]topology.ComponentID{1: "split"},
			origins:       map[topology.ComponentID]map[topology.StreamID]*topology.Origin{"split": {"default": origin}},
		}}
		for _, c := range []struct {
			name   string
			lazy   bool
			values bool
		}{{"eager", false, false}, {"lazy", true, false}, {"lazy+Values", true, true}} {
			b.Run(shape.name+"/"+c.name, func(b *testing.B) {
				d := wire.Decoder{Lazy: c.lazy}
				counts := map[string]int{}
				buf := make([]byte, len(frame))
				var f wire.Frame // the transport reuses the batch and its items
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					// The transport reads each frame into a buffer of
					// its own, reused when nothing aliases it.
					if c.lazy {
						buf = make([]byte, len(frame))
					}
					copy(buf, frame)
					if err := d.DecodeOwned(buf, &f); err != nil {
						b.Fatal(err)
					}
					var in inbound
					in.left = len(f.Batch.Items)
					for i := range f.Batch.Items {
						in.left--
						t, err := r.tuple(&in, &f.Batch.Items[i].Tuple)
						if err != nil {
							b.Fatal(err)
						}
						if c.values {
							counts[t.Values()[0].(string)]++
						} else {
							counts[t.StringAt(0)]++
						}
					}
					n += len(f.Batch.Items)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/tuple")
				if len(counts) == 0 {
					b.Fatal("nothing counted")
				}
			})
		}
	}
}
