package wire

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus under testdata/fuzz")

// seedFrames are valid frames of every kind, the seed corpus of FuzzDecodeFrame.
func seedFrames() []*Frame {
	ts := time.Date(2026, 11, 27, 0, 0, 0, 1, time.UTC)
	return []*Frame{
		{Kind: KindHello, Hello: Hello{Topology: "clicks", Worker: 2, Epoch: 7, Token: "t"}},
		{Kind: KindCredit, Credit: Credit{N: 64}},
		{Kind: KindRefuse, Refuse: Refuse{Reason: "stale epoch"}},
		batchOf(),
		batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "default",
			Values: []any{"the", int64(1), int64(1 << 40)}}}),
		batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "s",
			Values: []any{nil, true, -1.5, float32(2), []byte{1}, ts, uint64(math.MaxUint64),
				[]any{"a", map[string]any{"k": int64(-100000)}}},
			Edges: []Edge{{Root: 1, ID: 2}}}}),
		batchOf(
			Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: 9, SourceTask: 1, Dest: 2}},
			Item{Kind: KindWatermark, Watermark: Watermark{Time: ts.UnixNano(), SourceTask: 1, Dest: 2}},
			Item{Kind: KindAcker, Acker: AckerMsg{Op: AckerFail, Root: 5, Value: 6, SpoutTask: 1, Dest: 8}},
			Item{Kind: KindSpoutDone, SpoutDone: SpoutDone{Root: 5, Ok: true, Dest: 1}},
		),
		runsBatch(),
	}
}

func encodeSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, f := range seedFrames() {
		b, err := AppendFrame(nil, f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	// A map with an integer key takes the msgpack fallback path.
	var e Encoder
	e.B = append(e.B, byte(KindBatch), 0x91, 0x96, byte(KindRun), 1, 2, 0xa1, 's', mpFalse, 0x91, 0x91)
	if err := e.WriteValue(map[int]string{1: "x"}); err != nil {
		tb.Fatal(err)
	}
	return append(out, e.B)
}

// TestSeedCorpus checks that the committed seed corpus of FuzzDecodeFrame is
// the encoding of seedFrames, and rewrites it with -update-corpus.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeFrame")
	for i, b := range encodeSeeds(t) {
		path := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestSeedCorpus -update-corpus)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (run go test -run TestSeedCorpus -update-corpus)", path)
		}
	}
}

// FuzzDecodeFrame decodes arbitrary bytes: it must never panic, errors must
// be one of the package's, and whatever decodes must re-encode to bytes that
// decode to the same frame.
func FuzzDecodeFrame(f *testing.F) {
	for _, b := range encodeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr Frame
		err := DecodeFrame(data, &fr)
		checkLazy(t, data, &fr, err)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("error outside the package's sentinels: %v", err)
			}
			return
		}
		b, err := AppendFrame(nil, &fr)
		if err != nil {
			t.Fatalf("re-encode of decoded frame: %v", err)
		}
		var again Frame
		if err := DecodeFrame(b, &again); err != nil {
			t.Fatalf("decode of re-encoded frame % x: %v", b, err)
		}
		if !framesEqual(&fr, &again) {
			t.Fatalf("re-encoded frame differs:\n%+v\n%+v", fr, again)
		}
	})
}

// FuzzTupleRoundTrip builds frames from fuzzer-chosen values and checks that
// they round-trip exactly, and that every strict prefix of the encoding is
// rejected rather than misread.
func FuzzTupleRoundTrip(f *testing.F) {
	f.Add(int32(1), int32(2), "default", "word", int64(1), uint64(2), 1.5, []byte("b"), true, uint64(1), int64(0))
	f.Add(int32(-1), int32(math.MaxInt32), "", "", int64(math.MinInt64), uint64(math.MaxUint64), math.Inf(1), []byte{}, false, uint64(0), int64(-1))
	f.Fuzz(func(t *testing.T, dest, src int32, stream, s string, i int64, u uint64, fl float64, raw []byte, ok bool, root uint64, tm int64) {
		var uv any = u
		if u <= math.MaxInt64 {
			uv = int64(u)
		}
		in := batchOf(
			Item{Kind: KindTuple, Tuple: Tuple{Dest: dest, SourceTask: src, Stream: stream,
				Values: []any{s, i, uv, fl, float32(fl), raw, ok, nil, time.Unix(0, tm).UTC(),
					[]any{s, i}, map[string]any{s: i, "raw": raw}},
				Edges: []Edge{{Root: root, ID: u}}}},
			Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: u, SourceTask: src, Dest: dest}},
			Item{Kind: KindWatermark, Watermark: Watermark{Time: tm, SourceTask: src, Dest: dest}},
			Item{Kind: KindAcker, Acker: AckerMsg{Op: uint8(u), Root: root, Value: u, SpoutTask: src, Dest: dest}},
			Item{Kind: KindSpoutDone, SpoutDone: SpoutDone{Root: root, Ok: ok, Dest: dest}},
		)
		b, err := AppendFrame(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		var out Frame
		if err := DecodeFrame(b, &out); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !framesEqual(in, &out) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", out, *in)
		}
		hello := &Frame{Kind: KindHello, Hello: Hello{Topology: stream, Worker: int(i), Epoch: u, Token: s}}
		if g := roundTripBytes(t, hello); !framesEqual(hello, g) {
			t.Fatalf("hello round trip: got %+v want %+v", g, hello)
		}
		for n := range len(b) {
			var p Frame
			if err := DecodeFrame(b[:n], &p); err == nil {
				t.Fatalf("prefix of %d/%d bytes decoded without error", n, len(b))
			}
		}
	})
}

// checkLazy decodes data lazily and checks it agrees with the eager result
// (eager, errEager): same success, same values once materialized, and a
// forwarded (re-encoded raw) frame that decodes to the same thing.
func checkLazy(t *testing.T, data []byte, eager *Frame, errEager error) {
	t.Helper()
	d := Decoder{Lazy: true}
	var lazy Frame
	errLazy := d.DecodeOwned(bytes.Clone(data), &lazy)
	if (errEager == nil) != (errLazy == nil) {
		t.Fatalf("eager err %v, lazy err %v", errEager, errLazy)
	}
	if errLazy != nil {
		return
	}
	fwd, err := AppendFrame(nil, &lazy)
	if err != nil {
		t.Fatalf("forward lazy frame: %v", err)
	}
	materialize(t, &lazy)
	if !framesEqual(eager, &lazy) {
		t.Fatalf("lazy decode differs:\n%+v\n%+v", *eager, lazy)
	}
	var again Frame
	if err := DecodeFrame(fwd, &again); err != nil {
		t.Fatalf("decode forwarded frame: %v", err)
	}
	if !framesEqual(eager, &again) {
		t.Fatalf("forwarded frame differs")
	}
}

func roundTripBytes(t *testing.T, f *Frame) *Frame {
	b, err := AppendFrame(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	var g Frame
	if err := DecodeFrame(b, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}
