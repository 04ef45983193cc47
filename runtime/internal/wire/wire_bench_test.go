package wire

import (
	"fmt"
	"testing"
)

func benchBatch(n int) *Frame {
	f := &Frame{Kind: KindBatch}
	for i := range n {
		f.Batch.AddTuple(Tuple{Dest: 3, SourceTask: 1, Stream: "default",
			Values: []any{fmt.Sprintf("word-%d", i%100), int64(i), 1_700_000_000_000 + int64(i)}})
	}
	return f
}

func BenchmarkEncodeBatch(b *testing.B) {
	for _, n := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			f := benchBatch(n)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = AppendFrame(buf[:0], f); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tuples/s")
		})
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	for _, n := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			buf, err := AppendFrame(nil, benchBatch(n))
			if err != nil {
				b.Fatal(err)
			}
			var d Decoder
			var f Frame
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.DecodeOwned(buf, &f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tuples/s")
		})
	}
}

func BenchmarkRawAccessors(b *testing.B) {
	buf, err := AppendFrame(nil, benchBatch(64))
	if err != nil {
		b.Fatal(err)
	}
	d := Decoder{Lazy: true}
	var f Frame
	if err := d.DecodeOwned(buf, &f); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sum int64
	for b.Loop() {
		for i := range f.Batch.Items {
			r := f.Batch.Items[i].Tuple.Raw
			s, _ := r.StringAt(0)
			x, _ := r.Int64At(1)
			y, _ := r.Int64At(2)
			sum += int64(len(s)) + x + y
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "tuples/s")
	_ = sum
}

func BenchmarkValueDecoder(b *testing.B) {
	buf, err := AppendFrame(nil, benchBatch(64))
	if err != nil {
		b.Fatal(err)
	}
	d := Decoder{Lazy: true}
	var f Frame
	if err := d.DecodeOwned(buf, &f); err != nil {
		b.Fatal(err)
	}
	var vd ValueDecoder
	b.ReportAllocs()
	for b.Loop() {
		for i := range f.Batch.Items {
			if _, err := vd.Decode(f.Batch.Items[i].Tuple.Raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "tuples/s")
}

func BenchmarkDecodeBatchLazy(b *testing.B) {
	buf, err := AppendFrame(nil, benchBatch(64))
	if err != nil {
		b.Fatal(err)
	}
	d := Decoder{Lazy: true}
	var f Frame
	b.ReportAllocs()
	for b.Loop() {
		if err := d.DecodeOwned(buf, &f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "tuples/s")
}

// BenchmarkAppendBatch encodes the transport benchmark's batch: 256 tuples
// [string, int64, int64].
func BenchmarkAppendBatch(b *testing.B) {
	var batch Batch
	for i := range 256 {
		batch.AddTuple(Tuple{Dest: 3, SourceTask: 1, Stream: "default",
			Values: []any{fmt.Sprintf("word-%03d", i%100), int64(i * 7919), 1_795_000_000_000_000_000 + int64(i)}})
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendBatch(buf[:0], &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "tuples/s")
}

// BenchmarkBatchWriter encodes the transport benchmark's tuples as the
// runtime does, through BatchWriter.Tuple from each tuple's values.
func BenchmarkBatchWriter(b *testing.B) {
	vals := make([][]any, 256)
	for i := range vals {
		vals[i] = []any{fmt.Sprintf("word-%03d", i%100), int64(i * 7919), 1_795_000_000_000_000_000 + int64(i)}
	}
	var buf []byte
	var w BatchWriter
	b.ReportAllocs()
	for b.Loop() {
		w.Begin(buf[:0])
		for _, v := range vals {
			if err := w.Tuple(3, 1, "default", v, nil); err != nil {
				b.Fatal(err)
			}
		}
		buf = w.Finish()
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "tuples/s")
}
