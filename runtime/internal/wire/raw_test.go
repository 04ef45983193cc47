package wire

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func decodeLazy(t *testing.T, b []byte) *Frame {
	t.Helper()
	d := Decoder{Lazy: true}
	var f Frame
	if err := d.DecodeOwned(b, &f); err != nil {
		t.Fatalf("lazy decode: %v", err)
	}
	return &f
}

// materialize fills in Values of lazily decoded tuples.
func materialize(t testing.TB, f *Frame) {
	var vd ValueDecoder
	for i := range f.Batch.Items {
		tu := &f.Batch.Items[i].Tuple
		if f.Batch.Items[i].Kind != KindTuple {
			continue
		}
		if tu.Values != nil {
			t.Fatalf("lazy decode set Values of item %d", i)
		}
		vals, err := vd.Decode(tu.Raw)
		if err != nil {
			t.Fatalf("item %d: decode raw values: %v", i, err)
		}
		tu.Values = vals
	}
}

func TestLazyDecode(t *testing.T) {
	ts := time.Date(2026, 11, 27, 6, 0, 0, 1, time.UTC)
	in := batchOf(
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 1, SourceTask: 2, Stream: "default",
			Values: []any{"word", int64(-5), 2.5, true, []byte("raw"), nil, ts, uint64(math.MaxUint64),
				float32(1.5), []any{"x"}, map[string]any{"k": int64(1)}, int64(1 << 40)},
			Edges: []Edge{{Root: 1, ID: 2}}}},
		Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: 7}},
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 1, Stream: "s"}},
	)
	b, err := AppendFrame(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	lazy := decodeLazy(t, b)

	// Forwarding: re-encoding a lazy tuple sends its raw values unchanged.
	fwd, err := AppendFrame(nil, lazy)
	if err != nil {
		t.Fatal(err)
	}
	if string(fwd) != string(b) {
		t.Fatalf("forwarded frame differs from the original:\n% x\n% x", fwd, b)
	}

	r := lazy.Batch.Items[0].Tuple.Raw
	if r.Len() != 12 {
		t.Fatalf("Len = %d, want 12", r.Len())
	}
	if s, err := r.StringAt(0); err != nil || s != "word" {
		t.Errorf("StringAt(0) = %q, %v", s, err)
	}
	if n, err := r.Int64At(1); err != nil || n != -5 {
		t.Errorf("Int64At(1) = %d, %v", n, err)
	}
	if f, err := r.Float64At(2); err != nil || f != 2.5 {
		t.Errorf("Float64At(2) = %v, %v", f, err)
	}
	if f, err := r.Float64At(1); err != nil || f != -5 {
		t.Errorf("Float64At(1) = %v, %v", f, err)
	}
	if f, err := r.Float64At(8); err != nil || f != 1.5 {
		t.Errorf("Float64At(8) = %v, %v", f, err)
	}
	if v, err := r.BoolAt(3); err != nil || !v {
		t.Errorf("BoolAt(3) = %v, %v", v, err)
	}
	if v, err := r.BytesAt(4); err != nil || string(v) != "raw" {
		t.Errorf("BytesAt(4) = %q, %v", v, err)
	}
	if v, err := r.StringAt(4); err != nil || v != "raw" {
		t.Errorf("StringAt(4) = %q, %v", v, err)
	}
	if v, err := r.BytesAt(0); err != nil || string(v) != "word" {
		t.Errorf("BytesAt(0) = %q, %v", v, err)
	}
	if v, err := r.Int64At(11); err != nil || v != 1<<40 {
		t.Errorf("Int64At(11) = %v, %v", v, err)
	}
	if v, err := r.At(6); err != nil || !v.(time.Time).Equal(ts) {
		t.Errorf("At(6) = %v, %v", v, err)
	}
	for _, call := range []struct {
		name string
		err  error
	}{
		{"StringAt(1)", func() error { _, err := r.StringAt(1); return err }()},
		{"Int64At(0)", func() error { _, err := r.Int64At(0); return err }()},
		{"Int64At(7) overflow", func() error { _, err := r.Int64At(7); return err }()},
		{"Float64At(0)", func() error { _, err := r.Float64At(0); return err }()},
		{"BoolAt(0)", func() error { _, err := r.BoolAt(0); return err }()},
		{"BytesAt(1)", func() error { _, err := r.BytesAt(1); return err }()},
		{"StringAt(12)", func() error { _, err := r.StringAt(12); return err }()},
		{"At(-1)", func() error { _, err := r.At(-1); return err }()},
		{"zero value", func() error { _, err := RawValues{}.Int64At(0); return err }()},
	} {
		if !errors.Is(call.err, ErrType) {
			t.Errorf("%s: err %v, want ErrType", call.name, call.err)
		}
	}
	if got := r.String(); got == "" || got[0] != '[' {
		t.Errorf("String() = %q", got)
	}

	materialize(t, lazy)
	if !framesEqual(in, lazy) {
		t.Fatalf("lazy then materialized:\n got %+v\nwant %+v", lazy, in)
	}
}

// TestLazyRejectsWhatEagerRejects checks that lazy decoding validates values
// as fully as eager decoding, so materializing later cannot fail.
func TestLazyRejectsWhatEagerRejects(t *testing.T) {
	prefix := []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91}
	for name, val := range map[string][]byte{
		"bad-timestamp":  {mpFixExt2, 0xff, 0, 0},
		"timestamp-nsec": {mpFixExt8, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"unknown-ext":    {mpFixExt1, 0x05, 0},
		"invalid-byte":   {0xc1},
		"short-string":   {0xa5, 'a'},
		"nested-bad":     {0x91, 0x91, 0xc1},
		"map-bad-value":  {0x81, 0xa1, 'k', 0xc1},
	} {
		t.Run(name, func(t *testing.T) {
			in := append(append(append([]byte(nil), prefix...), val...), 0x90)
			var f Frame
			errEager := DecodeFrame(in, &f)
			d := Decoder{Lazy: true}
			errLazy := d.DecodeOwned(append([]byte(nil), in...), &f)
			if errEager == nil || errLazy == nil {
				t.Fatalf("eager err %v, lazy err %v: want both to fail", errEager, errLazy)
			}
		})
	}
}

func TestRawAccessorFormats(t *testing.T) {
	vals := []any{int64(-100), int64(-30000), int64(-2000000000), int64(200), int64(60000),
		int64(4000000000), strings.Repeat("s", 40), strings.Repeat("t", 300), float32(0.25), uint64(1 << 63)}
	var e Encoder
	for _, v := range vals {
		if err := e.WriteValue(v); err != nil {
			t.Fatal(err)
		}
	}
	r := RawValues{b: e.B, n: len(vals)}
	for i := range 6 {
		if got, err := r.Int64At(i); err != nil || got != vals[i].(int64) {
			t.Errorf("Int64At(%d) = %d, %v; want %d", i, got, err, vals[i])
		}
		if got, err := r.Float64At(i); err != nil || got != float64(vals[i].(int64)) {
			t.Errorf("Float64At(%d) = %v, %v", i, got, err)
		}
	}
	for i := 6; i < 8; i++ {
		if got, err := r.StringAt(i); err != nil || got != vals[i] {
			t.Errorf("StringAt(%d) = %q, %v", i, got, err)
		}
	}
	if got, err := r.Float64At(8); err != nil || got != 0.25 {
		t.Errorf("Float64At(8) = %v, %v", got, err)
	}
	if got, err := r.Float64At(9); err != nil || got != float64(uint64(1<<63)) {
		t.Errorf("Float64At(9) = %v, %v", got, err)
	}
	// Cut the encoding short anywhere: accessors fail, never panic.
	for cut := range len(e.B) {
		short := RawValues{b: e.B[:cut], n: len(vals)}
		for i := range len(vals) {
			short.StringAt(i)
			short.BytesAt(i)
			short.Int64At(i)
			short.Float64At(i)
			short.BoolAt(i)
			short.At(i)
		}
	}
}

// FuzzRawValues calls every accessor on arbitrary bytes: none may panic, and
// an accessor that succeeds must agree with At.
func FuzzRawValues(f *testing.F) {
	var e Encoder
	for _, v := range []any{"a", int64(-1), 1.5, true, []byte("b"), nil, int64(1 << 40)} {
		e.WriteValue(v)
	}
	f.Add(e.B, uint8(7))
	f.Add([]byte{0xd9, 0xff, 'a'}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		r := RawValues{b: data, n: int(n % 16)}
		for i := -1; i <= r.n; i++ {
			v, errAt := r.At(i)
			if x, err := r.Int64At(i); err == nil {
				if errAt != nil || v != x {
					t.Fatalf("Int64At(%d) = %d, At = %#v, %v", i, x, v, errAt)
				}
			}
			if s, err := r.StringAt(i); err == nil {
				if errAt != nil {
					t.Fatalf("StringAt(%d) = %q, At failed: %v", i, s, errAt)
				}
				switch w := v.(type) {
				case string:
					if w != s {
						t.Fatalf("StringAt(%d) = %q, At = %q", i, s, w)
					}
				case []byte:
					if string(w) != s {
						t.Fatalf("StringAt(%d) = %q, At = %q", i, s, w)
					}
				}
			}
			if b, err := r.BoolAt(i); err == nil && (errAt != nil || v != b) {
				t.Fatalf("BoolAt(%d) = %v, At = %#v, %v", i, b, v, errAt)
			}
			r.BytesAt(i)
			r.Float64At(i)
		}
	})
}
