package wire

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// equal compares decoded values: NaNs are equal to themselves, times are
// compared with Equal, and nil and empty byte slices are equal.
func equal(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func framesEqual(a, b *Frame) bool {
	if a.Kind != b.Kind || a.Hello != b.Hello || a.Credit != b.Credit || a.Refuse != b.Refuse {
		return false
	}
	if len(a.Batch.Items) != len(b.Batch.Items) {
		return false
	}
	for i := range a.Batch.Items {
		x, y := &a.Batch.Items[i], &b.Batch.Items[i]
		if x.Kind != y.Kind || x.Barrier != y.Barrier || x.Watermark != y.Watermark ||
			x.Acker != y.Acker || x.SpoutDone != y.SpoutDone {
			return false
		}
		tx, ty := &x.Tuple, &y.Tuple
		if tx.Dest != ty.Dest || tx.SourceTask != ty.SourceTask || tx.Stream != ty.Stream ||
			len(tx.Edges) != len(ty.Edges) || !equal(anys(tx.Values), anys(ty.Values)) {
			return false
		}
		for j := range tx.Edges {
			if tx.Edges[j] != ty.Edges[j] {
				return false
			}
		}
	}
	return true
}

// anys turns a nil value list into an empty one, since both encode alike.
func anys(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func roundTrip(t *testing.T, f *Frame) *Frame {
	t.Helper()
	b, err := AppendFrame(nil, f)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var g Frame
	if err := DecodeFrame(b, &g); err != nil {
		t.Fatalf("decode % x: %v", b, err)
	}
	return &g
}

func batchOf(items ...Item) *Frame { return &Frame{Kind: KindBatch, Batch: Batch{Items: items}} }

func TestFrameRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 27, 5, 41, 22, 123456789, time.UTC)
	tests := []struct {
		name string
		f    *Frame
	}{
		{"hello", &Frame{Kind: KindHello, Hello: Hello{Topology: "clicks", Worker: 3, Epoch: 42, Token: "s3cret"}}},
		{"hello-empty", &Frame{Kind: KindHello}},
		{"hello-negative-worker", &Frame{Kind: KindHello, Hello: Hello{Worker: -1, Epoch: math.MaxUint64}}},
		{"credit", &Frame{Kind: KindCredit, Credit: Credit{N: 64}}},
		{"credit-max", &Frame{Kind: KindCredit, Credit: Credit{N: math.MaxUint32}}},
		{"refuse", &Frame{Kind: KindRefuse, Refuse: Refuse{Reason: "stale epoch 3 < 4"}}},
		{"empty-batch", batchOf()},
		{"tuple", batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 7, SourceTask: 2, Stream: "default",
			Values: []any{"word", int64(1), int64(1 << 40)}}})},
		{"tuple-tracked", batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: math.MaxInt32, SourceTask: math.MinInt32,
			Stream: "s", Values: []any{}, Edges: []Edge{{Root: 1, ID: math.MaxUint64}, {Root: 99, ID: 7}}}})},
		{"tuple-all-types", batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 1, Stream: strings.Repeat("x", 300),
			Values: []any{nil, true, false, int64(-1), int64(math.MinInt64), uint64(math.MaxUint64),
				float32(1.5), 2.25, "", []byte{0, 1, 2}, ts, []any{int64(1), "a"},
				map[string]any{"k": int64(2), "n": nil}}}})},
		{"barrier", batchOf(Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: 12, SourceTask: 3, Dest: 4}})},
		{"watermark", batchOf(Item{Kind: KindWatermark, Watermark: Watermark{Time: ts.UnixNano(), SourceTask: 1, Dest: 2}})},
		{"watermark-negative", batchOf(Item{Kind: KindWatermark, Watermark: Watermark{Time: math.MinInt64}})},
		{"acker", batchOf(Item{Kind: KindAcker, Acker: AckerMsg{Op: AckerAck, Root: 1 << 63, Value: 12345, SpoutTask: 1, Dest: 9}})},
		{"spout-done", batchOf(Item{Kind: KindSpoutDone, SpoutDone: SpoutDone{Root: 5, Ok: true, Dest: 1}})},
		{"interleaved", batchOf(
			Item{Kind: KindTuple, Tuple: Tuple{Dest: 1, SourceTask: 2, Stream: "default", Values: []any{"a"}}},
			Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: 1, SourceTask: 2, Dest: 1}},
			Item{Kind: KindTuple, Tuple: Tuple{Dest: 1, SourceTask: 2, Stream: "default", Values: []any{"b"}}},
			Item{Kind: KindWatermark, Watermark: Watermark{Time: 100, SourceTask: 2, Dest: 1}},
			Item{Kind: KindAcker, Acker: AckerMsg{Op: AckerInit, Root: 1, Value: 2, SpoutTask: 2, Dest: 10}},
			Item{Kind: KindSpoutDone, SpoutDone: SpoutDone{Root: 1, Dest: 2}},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g := roundTrip(t, tt.f); !framesEqual(tt.f, g) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", g, tt.f)
			}
		})
	}
}

func TestBatchLarge(t *testing.T) {
	// Enough items and values to cross array16 and the value-slot chunk.
	var f Frame
	f.Kind = KindBatch
	for i := range 3000 {
		vals := make([]any, i%7)
		for j := range vals {
			vals[j] = int64(i * j)
		}
		f.Batch.AddTuple(Tuple{Dest: int32(i), SourceTask: 1, Stream: "default", Values: vals})
	}
	g := roundTrip(t, &f)
	if !framesEqual(&f, g) {
		t.Fatal("large batch does not round-trip")
	}
	// Value lists carved from one chunk must not share capacity.
	vs := g.Batch.Items[1].Tuple.Values
	if cap(vs) != len(vs) {
		t.Fatalf("value list cap %d != len %d", cap(vs), len(vs))
	}
	vs = append(vs, "x")
	if !equal(anys(g.Batch.Items[2].Tuple.Values), anys(f.Batch.Items[2].Tuple.Values)) {
		t.Fatal("append to one tuple's values changed the next tuple")
	}
	_ = vs
}

type point struct {
	X, Y int
}

type userID int64

func TestValueRoundTrip(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"int-0", 0, int64(0)},
		{"int-fix", 127, int64(127)},
		{"int-neg-fix", -32, int64(-32)},
		{"int8", int8(-128), int64(-128)},
		{"int16", int16(-32768), int64(-32768)},
		{"int32", int32(math.MinInt32), int64(math.MinInt32)},
		{"int64-min", int64(math.MinInt64), int64(math.MinInt64)},
		{"int64-max", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"uint", uint(300), int64(300)},
		{"uint8", uint8(255), int64(255)},
		{"uint16", uint16(65535), int64(65535)},
		{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"uint64-small", uint64(1 << 40), int64(1 << 40)},
		{"uint64-big", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"uintptr", uintptr(9), int64(9)},
		{"float32", float32(-0.5), float32(-0.5)},
		{"float64", 3.14, 3.14},
		{"float64-nan", math.NaN(), math.NaN()},
		{"float64-inf", math.Inf(-1), math.Inf(-1)},
		{"string-empty", "", ""},
		{"string-fix", "hello", "hello"},
		{"string-8", strings.Repeat("a", 200), strings.Repeat("a", 200)},
		{"string-16", strings.Repeat("b", 70000)[:60000], strings.Repeat("b", 60000)},
		{"string-32", strings.Repeat("c", 70000), strings.Repeat("c", 70000)},
		{"string-utf8", "héllo, 世界", "héllo, 世界"},
		{"bytes", []byte("raw"), []byte("raw")},
		{"bytes-empty", []byte{}, []byte{}},
		{"bytes-16", bytes.Repeat([]byte{1}, 1000), bytes.Repeat([]byte{1}, 1000)},
		{"bytes-32", bytes.Repeat([]byte{2}, 70000), bytes.Repeat([]byte{2}, 70000)},
		{"time-32", time.Unix(1700000000, 0), time.Unix(1700000000, 0)},
		{"time-64", ts, ts},
		{"time-96-negative", time.Date(1900, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 5, time.UTC)},
		{"time-96-far", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"time-zero", time.Time{}, time.Time{}},
		{"list", []any{int64(1), "two", 3.0, nil}, []any{int64(1), "two", 3.0, nil}},
		{"list-16", make([]any, 20), make([]any, 20)},
		{"nested", []any{[]any{[]any{"deep"}}, map[string]any{"a": []any{true}}},
			[]any{[]any{[]any{"deep"}}, map[string]any{"a": []any{true}}}},
		{"map", map[string]any{"a": int64(1), "b": "x"}, map[string]any{"a": int64(1), "b": "x"}},
		{"strings", []string{"a", "b"}, []any{"a", "b"}},
		{"string-map", map[string]string{"k": "v"}, map[string]any{"k": "v"}},
		{"fallback-struct", point{1, 2}, map[string]any{"X": int64(1), "Y": int64(2)}},
		{"fallback-named-int", userID(7), int64(7)},
		{"fallback-int-slice", []int{1, 2}, []any{int64(1), int64(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoder
			if err := e.WriteValue(tt.in); err != nil {
				t.Fatalf("encode: %v", err)
			}
			var d Decoder
			d.Reset(e.B)
			got, err := d.ReadValue()
			if err != nil {
				t.Fatalf("decode % x: %v", e.B, err)
			}
			if d.Remaining() != 0 {
				t.Fatalf("%d bytes left", d.Remaining())
			}
			if !equal(got, tt.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
			if tm, ok := got.(time.Time); ok && tm.Location() != time.UTC {
				t.Fatalf("time decoded in %v, want UTC", tm.Location())
			}
		})
	}
}

// TestIntEncodingCompact checks that integers take the smallest encoding.
func TestIntEncodingCompact(t *testing.T) {
	tests := []struct {
		v    int64
		size int
	}{
		{0, 1}, {127, 1}, {-32, 1}, {128, 2}, {255, 2}, {-33, 2}, {-128, 2},
		{256, 3}, {-129, 3}, {65535, 3}, {65536, 5}, {-32769, 5},
		{math.MaxUint32, 5}, {math.MaxUint32 + 1, 9}, {math.MinInt32 - 1, 9},
	}
	for _, tt := range tests {
		var e Encoder
		e.WriteInt(tt.v)
		if len(e.B) != tt.size {
			t.Errorf("WriteInt(%d) took %d bytes, want %d", tt.v, len(e.B), tt.size)
		}
	}
}

// TestInteropMsgpack checks our encoding against github.com/vmihailenco/msgpack/v5
// in both directions.
func TestInteropMsgpack(t *testing.T) {
	vals := []any{nil, true, int64(-5), int64(1 << 33), "s", []byte("b"), 1.5,
		[]any{"x", int64(1)}, map[string]any{"k": "v"}, time.Unix(1<<35, 7).UTC()}
	for _, v := range vals {
		var e Encoder
		if err := e.WriteValue(v); err != nil {
			t.Fatal(err)
		}
		var got any
		if err := msgpack.Unmarshal(e.B, &got); err != nil {
			t.Fatalf("msgpack cannot read our %#v: %v", v, err)
		}
		if tm, ok := got.(time.Time); ok {
			got = tm.UTC()
		}
		// msgpack decodes small ints to their smallest Go type.
		if !equal(normInts(got), v) {
			t.Fatalf("msgpack read %#v as %#v", v, got)
		}
		theirs, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var d Decoder
		d.Reset(theirs)
		ours, err := d.ReadValue()
		if err != nil {
			t.Fatalf("cannot read msgpack's %#v: %v", v, err)
		}
		if !equal(ours, v) {
			t.Fatalf("read msgpack's %#v as %#v", v, ours)
		}
	}
}

// normInts turns every signed integer in v into an int64.
func normInts(v any) any {
	if n, ok := toInt(v); ok {
		return n
	}
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normInts(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, y := range x {
			out[k] = normInts(y)
		}
		return out
	}
	return v
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	}
	return 0, false
}

func TestEncodeUnsupported(t *testing.T) {
	var e Encoder
	if err := e.WriteValue(make(chan int)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("chan: err %v, want ErrUnsupported", err)
	}
	f := batchOf(Item{Kind: KindTuple, Tuple: Tuple{Stream: "s", Values: []any{func() {}}}})
	buf := []byte("prefix")
	out, err := AppendFrame(buf, f)
	if !errors.Is(err, ErrUnsupported) || string(out) != "prefix" {
		t.Fatalf("AppendFrame = %q, %v; want prefix unchanged and ErrUnsupported", out, err)
	}
	deep := any("leaf")
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	if err := e.WriteValue(deep); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("deep value: err %v, want ErrTooDeep", err)
	}
	if _, err := AppendFrame(nil, &Frame{Kind: 99}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad frame kind: err %v, want ErrMalformed", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	hello, _ := AppendFrame(nil, &Frame{Kind: KindHello, Hello: Hello{Topology: "t"}})
	tuple, _ := AppendFrame(nil, batchOf(Item{Kind: KindTuple, Tuple: Tuple{Stream: "s", Values: []any{"v"}}}))
	deep := []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91}
	deep = append(deep, bytes.Repeat([]byte{0x91}, MaxDepth+2)...)
	deep = append(deep, 0xc0, 0x90)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"unknown-kind", []byte{0x77, 0x90}, ErrMalformed},
		{"batch-not-array", []byte{byte(KindBatch), 0xc0}, ErrMalformed},
		{"huge-array", []byte{byte(KindBatch), mpArray32, 0xff, 0xff, 0xff, 0xff}, ErrTruncated},
		{"huge-string", []byte{byte(KindRefuse), 0x91, mpStr32, 0x7f, 0xff, 0xff, 0xff, 'a'}, ErrTruncated},
		{"huge-map", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91, mpMap32, 0, 0, 0, 3, 0xa0, 0xc0}, ErrTruncated},
		{"huge-bin", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91, mpBin32, 0xff, 0, 0, 0, 0x90}, ErrTruncated},
		{"truncated-hello", hello[:len(hello)-1], ErrTruncated},
		{"truncated-tuple", tuple[:len(tuple)-2], ErrTruncated},
		{"trailing", append(bytes.Clone(hello), 0), ErrMalformed},
		{"hello-short", []byte{byte(KindHello), 0x91, 0xa0}, ErrMalformed},
		{"credit-overflow", []byte{byte(KindCredit), 0x91, mpUint64, 0, 0, 0, 1, 0, 0, 0, 0}, ErrMalformed},
		{"credit-negative", []byte{byte(KindCredit), 0x91, 0xff}, ErrMalformed},
		{"dest-overflow", []byte{byte(KindBatch), 0x91, 0x94, byte(KindBarrier), 0, 0, mpInt64, 0x7f, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
		{"item-kind-unknown", []byte{byte(KindBatch), 0x91, 0x91, 0x05}, ErrMalformed},
		{"item-kind-frame", []byte{byte(KindBatch), 0x91, 0x91, byte(KindHello)}, ErrMalformed},
		{"item-empty", []byte{byte(KindBatch), 0x91, 0x90}, ErrMalformed},
		{"barrier-short", []byte{byte(KindBatch), 0x91, 0x93, byte(KindBarrier), 0, 0}, ErrMalformed},
		{"odd-edges", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpTrue, 0x92, 0x90, 0x91, 1}, ErrMalformed},
		{"odd-tracked-run", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpTrue, 0x91, 0x90}, ErrMalformed},
		{"short-run", []byte{byte(KindBatch), 0x91, 0x95, byte(KindRun), 0, 0, 0xa0, mpFalse}, ErrMalformed},
		{"run-not-bool", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, 0x00, 0x90}, ErrMalformed},
		{"lone-tuple", []byte{byte(KindBatch), 0x91, 0x96, byte(KindTuple), 0, 0, 0xa0, 0x90, 0x90}, ErrMalformed},
		{"run-overlong", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x93, 0x90}, ErrTruncated},
		{"invalid-format", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91, 0xc1, 0x90}, ErrMalformed},
		{"bad-timestamp", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91, mpFixExt2, 0xff, 0, 0, 0x90}, ErrMalformed},
		{"timestamp-nsec", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91, mpFixExt8, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x90}, ErrMalformed},
		{"unknown-ext", []byte{byte(KindBatch), 0x91, 0x96, byte(KindRun), 0, 0, 0xa0, mpFalse, 0x91, 0x91, mpFixExt1, 0x05, 0, 0x90}, ErrMalformed},
		{"too-deep", deep, ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			err := DecodeFrame(tt.in, &f)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeFrame(% x) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// TestDecodeFallbackMap checks that a map with non-string keys, which our
// fast path does not produce, is read through the msgpack fallback.
func TestDecodeFallbackMap(t *testing.T) {
	var e Encoder
	if err := e.WriteValue(map[int]string{1: "a"}); err != nil {
		t.Fatal(err)
	}
	var d Decoder
	d.Reset(e.B)
	v, err := d.ReadValue()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(map[any]any)
	if !ok || len(m) != 1 {
		t.Fatalf("got %#v", v)
	}
	for k, x := range m {
		if n, ok := toInt(k); !ok || n != 1 || x != "a" {
			t.Fatalf("got %#v", v)
		}
	}
}

// TestDecodeCopiesInput checks that DecodeFrame does not alias its input.
func TestDecodeCopiesInput(t *testing.T) {
	b, _ := AppendFrame(nil, batchOf(Item{Kind: KindTuple, Tuple: Tuple{Stream: "default", Values: []any{"word", []byte("raw")}}}))
	var f Frame
	if err := DecodeFrame(b, &f); err != nil {
		t.Fatal(err)
	}
	clear(b)
	tu := f.Batch.Items[0].Tuple
	if tu.Stream != "default" || tu.Values[0] != "word" || string(tu.Values[1].([]byte)) != "raw" {
		t.Fatalf("decoded tuple changed with its input: %+v", tu)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindBatch: "batch", KindTuple: "tuple", KindSpoutDone: "spout_done", 200: "kind(200)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

// TestDecoderReuse decodes frames of different shapes into one Frame and
// Decoder, as the transport does, and checks nothing leaks between them.
func TestDecoderReuse(t *testing.T) {
	frames := []*Frame{
		batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 1, Stream: "a", Values: []any{"x"}, Edges: []Edge{{1, 2}}}},
			Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: 3}}),
		batchOf(Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: 4}},
			Item{Kind: KindTuple, Tuple: Tuple{Dest: 2, Stream: "b", Values: []any{int64(1000)}}}),
		batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 300, SourceTask: -1, Stream: strings.Repeat("s", 40), Values: []any{}}}),
		{Kind: KindCredit, Credit: Credit{N: 5}},
		batchOf(Item{Kind: KindAcker, Acker: AckerMsg{Op: AckerInit, Root: 9}}),
	}
	var d Decoder
	var f Frame
	for i, want := range frames {
		b, err := AppendFrame(nil, want)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.DecodeOwned(b, &f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		// Only the member Kind names is defined; copy just that one.
		got := Frame{Kind: f.Kind}
		switch f.Kind {
		case KindBatch:
			got.Batch = f.Batch
		case KindCredit:
			got.Credit = f.Credit
		}
		if !framesEqual(want, &got) {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, *want)
		}
	}
}
