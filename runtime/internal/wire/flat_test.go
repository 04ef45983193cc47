package wire

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ordinaryValues decodes n values from b the ordinary way (boxing, no flat
// chunk), returning them and the bytes they took.
func ordinaryValues(b []byte, n int) ([]any, int, error) {
	d := Decoder{b: b, a: new(arena)}
	vals := make([]any, n)
	err := d.readValues(vals)
	return vals, d.off, err
}

func TestFlatDecode(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		in   any
		flat bool // decoded into a chunk rather than the ordinary way
	}{
		{"nil", nil, true},
		{"true", true, true},
		{"false", false, true},
		{"int-0", 0, true},
		{"int-fix", 127, true},
		{"int-neg-fix", -32, true},
		{"int8", int8(-128), true},
		{"int8-static-edge", int8(-33), true},
		{"int16", int16(-32768), true},
		{"int32", int32(math.MinInt32), true},
		{"int64-min", int64(math.MinInt64), true},
		{"int64-max", int64(math.MaxInt64), true},
		{"uint8", uint8(255), true},
		{"uint16", uint16(65535), true},
		{"uint32", uint32(math.MaxUint32), true},
		{"uint64-small", uint64(1 << 40), true},
		{"uint64-big", uint64(math.MaxUint64), true},
		{"float32", float32(-0.5), true},
		{"float64", 3.14, true},
		{"float64-nan", math.NaN(), true},
		{"string-empty", "", true},
		{"string-fix", "hello", true},
		{"string-31", strings.Repeat("s", 31), true},
		{"string-8", strings.Repeat("a", 200), true},
		{"string-16", strings.Repeat("b", 3000), true},
		{"string-too-big", strings.Repeat("c", 70000), false},
		{"string-utf8", "héllo, 世界", true},
		{"bytes", []byte("raw"), true},
		{"bytes-empty", []byte{}, true},
		{"bytes-16", bytes.Repeat([]byte{1}, 1000), true},
		{"time-32", time.Unix(1700000000, 0), flatTime},
		{"time-64", ts, flatTime},
		{"time-96-negative", time.Date(1900, 1, 1, 0, 0, 0, 5, time.UTC), flatTime},
		{"time-zero", time.Time{}, flatTime},
		{"list", []any{int64(1), "two"}, false},
		{"map", map[string]any{"a": int64(1)}, false},
		{"fallback-struct", point{1, 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The value between two others, so offsets and neighbours are
			// checked too.
			var e Encoder
			for _, v := range []any{"before", tt.in, int64(-7)} {
				if err := e.WriteValue(v); err != nil {
					t.Fatal(err)
				}
			}
			want, wantN, err := ordinaryValues(e.B, 3)
			if err != nil {
				t.Fatalf("ordinary decode: %v", err)
			}
			var a flatArena
			got, n, ok := a.decodeAt(append(e.B, 0xc0), 3) // a trailing byte that is not theirs
			if ok != tt.flat {
				t.Fatalf("flat decode ok = %v, want %v", ok, tt.flat)
			}
			if !ok {
				return
			}
			if n != wantN {
				t.Fatalf("flat decode took %d bytes, want %d", n, wantN)
			}
			if len(got) != 3 || cap(got) != 3 {
				t.Fatalf("len %d cap %d, want 3 and 3", len(got), cap(got))
			}
			for i := range want {
				if !equal(got[i], want[i]) {
					t.Fatalf("value %d: got %#v (%T), want %#v (%T)", i, got[i], got[i], want[i], want[i])
				}
			}
			switch v := got[1].(type) {
			case []byte:
				if v == nil || cap(v) != len(v) {
					t.Fatalf("bytes: nil %v, len %d cap %d; want non-nil with cap == len", v == nil, len(v), cap(v))
				}
			case time.Time:
				if v.Location() != time.UTC {
					t.Fatalf("time in %v, want UTC", v.Location())
				}
			}
		})
	}
}

// TestFlatValuesSurviveGC keeps some decoded values (whole lists, single
// interfaces, strings and byte slices taken out of them) while everything
// else becomes garbage, runs the collector, and checks the kept values:
// the chunks they live in are not scanned, so this is what shows the
// collector keeps them, and what they point to, alive.
func TestFlatValuesSurviveGC(t *testing.T) {
	const tuples = 20000
	value := func(i int) []any {
		return []any{fmt.Sprintf("word-%d", i), int64(i) * 1_000_003, float64(i) / 3, []byte(fmt.Sprint(i)),
			time.Unix(int64(i), int64(i)).UTC(), i%2 == 0, int64(i % 100)}
	}
	var vd ValueDecoder
	var lists [][]any
	var ifaces []any
	var strs []string
	var bufs [][]byte
	var kept []int
	for i := range tuples {
		var e Encoder
		for _, v := range value(i) {
			if err := e.WriteValue(v); err != nil {
				t.Fatal(err)
			}
		}
		vals, err := vd.Decode(RawValues{b: e.B, n: 7})
		if err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 {
			lists = append(lists, vals)
			ifaces = append(ifaces, vals[1])
			strs = append(strs, vals[0].(string))
			bufs = append(bufs, vals[3].([]byte))
			kept = append(kept, i)
		}
		if i%1000 == 0 {
			runtime.GC()
		}
	}
	for range 3 {
		runtime.GC()
	}
	for k, i := range kept {
		want := value(i)
		for j := range want {
			if !equal(lists[k][j], want[j]) {
				t.Fatalf("tuple %d value %d: got %#v, want %#v", i, j, lists[k][j], want[j])
			}
		}
		if ifaces[k] != want[1] || strs[k] != want[0] || !bytes.Equal(bufs[k], want[3].([]byte)) {
			t.Fatalf("tuple %d: kept values %v %q %q, want %v %q %q", i, ifaces[k], strs[k], bufs[k], want[1], want[0], want[3])
		}
	}
}

// FuzzFlatDecode checks flat decoding against the ordinary decoder on
// arbitrary bytes: where flat decoding succeeds, the ordinary decoder must
// too, with the same values from the same bytes.
func FuzzFlatDecode(f *testing.F) {
	var e Encoder
	for _, v := range []any{"a", int64(-1), 1.5, float32(2), true, []byte("b"), nil, int64(1 << 40),
		uint64(math.MaxUint64), time.Unix(5, 6), strings.Repeat("x", 300)} {
		e.WriteValue(v)
	}
	f.Add(e.B, uint8(11))
	f.Add([]byte{0xd9, 0xff, 'a'}, uint8(1))
	f.Add([]byte{0xc7, 12, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		var a flatArena
		got, size, ok := a.decodeAt(data, int(n%16))
		if !ok {
			return
		}
		want, wantN, err := ordinaryValues(data, int(n%16))
		if err != nil {
			t.Fatalf("flat decode succeeded, ordinary failed: %v", err)
		}
		if size != wantN {
			t.Fatalf("flat decode took %d bytes, ordinary %d", size, wantN)
		}
		for i := range want {
			if !equal(got[i], want[i]) {
				t.Fatalf("value %d: flat %#v, ordinary %#v", i, got[i], want[i])
			}
		}
	})
}

func TestDecoderAliases(t *testing.T) {
	tuple := func(vals ...any) Item {
		return Item{Kind: KindTuple, Tuple: Tuple{Dest: 1, SourceTask: 2, Stream: "default", Values: vals}}
	}
	tests := []struct {
		name string
		f    *Frame
		lazy bool
		want bool
	}{
		{"flat", batchOf(tuple("word", int64(1), 2.5, []byte("b"), time.Unix(1, 0)), Item{Kind: KindBarrier}), false, false},
		{"list", batchOf(tuple("word", []any{"x"})), false, true},
		{"large-string", batchOf(tuple(strings.Repeat("x", flatMaxTuple))), false, true},
		{"long-stream", batchOf(Item{Kind: KindTuple, Tuple: Tuple{Stream: strings.Repeat("s", 40), Values: []any{int64(1)}}}), false, false},
		{"many-streams", manyStreams(maxStreams + 1), false, true},
		{"lazy", batchOf(tuple("word", strings.Repeat("x", 100), []any{"x"})), true, false},
		{"hello", &Frame{Kind: KindHello, Hello: Hello{Topology: "t"}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendFrame(nil, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			d := Decoder{Lazy: tt.lazy}
			var f Frame
			if err := d.DecodeOwned(b, &f); err != nil {
				t.Fatal(err)
			}
			if got := d.Aliases(); got != tt.want {
				t.Fatalf("Aliases() = %v, want %v", got, tt.want)
			}
			if !tt.want && tt.f.Kind == KindBatch && !tt.lazy {
				// Overwrite the input: what was decoded must not change.
				clear(b)
				for i := range f.Batch.Items {
					if want, got := tt.f.Batch.Items[i].Tuple, f.Batch.Items[i].Tuple; got.Stream != want.Stream ||
						!equal(any(got.Values), any(want.Values)) {
						t.Fatalf("item %d changed with the input: %+v, want %+v", i, got, want)
					}
				}
			}
		})
	}
}

// manyStreams returns a batch of n tuples on n streams: a decoder interns
// the first maxStreams names and lets the others alias the frame.
func manyStreams(n int) *Frame {
	f := &Frame{Kind: KindBatch}
	for i := range n {
		f.Batch.AddTuple(Tuple{Dest: 1, SourceTask: 2, Stream: fmt.Sprintf("s%d", i), Values: []any{int64(i)}})
	}
	return f
}
