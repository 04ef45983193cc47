package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// runsBatch is a batch whose tuples form six runs: they change
// destination, source task, stream and tracking, and a control item
// interrupts them.
func runsBatch() *Frame {
	tu := func(dest, src int32, stream string, v int64, edges ...Edge) Item {
		return Item{Kind: KindTuple, Tuple: Tuple{Dest: dest, SourceTask: src, Stream: stream,
			Values: []any{"w", v}, Edges: edges}}
	}
	return batchOf(
		tu(3, 1, "default", 1), tu(3, 1, "default", 2), tu(3, 1, "default", 3), // run 1
		tu(4, 1, "default", 4), // run 2: another destination
		Item{Kind: KindBarrier, Barrier: Barrier{Checkpoint: 2, SourceTask: 1, Dest: 3}},
		tu(3, 1, "default", 5, Edge{Root: 7, ID: 8}), tu(3, 1, "default", 6, Edge{Root: 7, ID: 9}), // run 3: tracked
		tu(3, 1, "default", 7), // run 4: untracked again
		tu(3, 2, "default", 8), // run 5: another source
		tu(3, 2, "other", 9),   // run 6: another stream
	)
}

func TestRuns(t *testing.T) {
	in := runsBatch()
	b, err := AppendFrame(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	d := Decoder{}
	d.Reset(b[1:])
	if n, err := d.ReadArrayLen(); err != nil || n != 7 {
		t.Fatalf("frame holds %d items (err %v), want 6 runs and a barrier", n, err)
	}
	if got := bytes.Count(b, []byte{0x96, byte(KindRun)}); got != 6 {
		t.Fatalf("%d run headers, want 6", got)
	}
	for _, lazy := range []bool{false, true} {
		d := Decoder{Lazy: lazy}
		var out Frame
		if err := d.DecodeOwned(bytes.Clone(b), &out); err != nil {
			t.Fatal(err)
		}
		if lazy {
			materialize(t, &out)
		}
		if !framesEqual(in, &out) {
			t.Fatalf("lazy %v: round trip:\n got %+v\nwant %+v", lazy, out, *in)
		}
		if e := out.Batch.Items[7].Tuple.Edges; e != nil {
			t.Fatalf("untracked tuple after tracked ones decoded with edges %v", e)
		}
	}
}

// TestRunsShorterThanSeparateTuples pins the point of runs: a tuple in a
// run costs its values and one byte, not its destination, source and
// stream again.
func TestRunsShorterThanSeparateTuples(t *testing.T) {
	one := batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "default", Values: []any{"w", int64(1)}}})
	f := &Frame{Kind: KindBatch}
	for range 100 {
		f.Batch.AddTuple(Tuple{Dest: 3, SourceTask: 1, Stream: "default", Values: []any{"w", int64(1)}})
	}
	b1, _ := AppendFrame(nil, one)
	b100, _ := AppendFrame(nil, f)
	// Per tuple: the value list's header, "w" in two bytes, 1 in one.
	const perTuple = 4
	if got, want := len(b100)-len(b1), 99*perTuple; got != want {
		t.Fatalf("99 more tuples took %d bytes, want %d", got, want)
	}
}

// TestReusedFrameDecodesRuns decodes frames of changing shape into one
// Frame, as the transport does, so items are reused across kinds, streams
// and tracking.
func TestReusedFrameDecodesRuns(t *testing.T) {
	frames := []*Frame{runsBatch(), batchOf(Item{Kind: KindAcker, Acker: AckerMsg{Op: AckerAck, Root: 1, Value: 2, SpoutTask: 3, Dest: 4}}), runsBatch(), batchOf()}
	var d Decoder
	var out Frame
	for i, in := range frames {
		b, err := AppendFrame(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.DecodeOwned(b, &out); err != nil {
			t.Fatal(err)
		}
		if !framesEqual(in, &out) {
			t.Fatalf("frame %d:\n got %+v\nwant %+v", i, out, *in)
		}
	}
}

// TestBatchWriter writes tuples in each of the forms the runtime holds
// them (values, an unboxed string, values still encoded) and a control
// item, and checks the frame decodes to the batch they stand for. A tuple
// whose value cannot be encoded is refused and leaves nothing behind.
func TestBatchWriter(t *testing.T) {
	fwd := batchOf(Item{Kind: KindTuple, Tuple: Tuple{Dest: 9, SourceTask: 9, Stream: "x", Values: []any{"fwd", int64(-3)}}})
	fb, err := AppendFrame(nil, fwd)
	if err != nil {
		t.Fatal(err)
	}
	d := Decoder{Lazy: true}
	var lazy Frame
	if err := d.DecodeOwned(fb, &lazy); err != nil {
		t.Fatal(err)
	}
	raw := lazy.Batch.Items[0].Tuple.Raw

	edges := []Edge{{Root: 1, ID: 2}}
	want := batchOf(
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "default", Values: []any{"a", int64(1)}}},
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "default", Values: []any{"b"}}},
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "default", Values: []any{"fwd", int64(-3)}}},
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "default", Values: []any{"c"}, Edges: edges}},
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 3, SourceTask: 1, Stream: "default", Values: []any{"fwd", int64(-3)}, Edges: edges}},
		Item{Kind: KindWatermark, Watermark: Watermark{Time: 5, SourceTask: 1, Dest: 3}},
		Item{Kind: KindTuple, Tuple: Tuple{Dest: 4, SourceTask: 1, Stream: "default", Values: []any{"d", 2.5}}},
	)
	var w BatchWriter
	w.Begin([]byte("prefix"))
	if err := w.Tuple(3, 1, "default", []any{"a", 1}, nil); err != nil {
		t.Fatal(err)
	}
	w.StringTuple(3, 1, "default", "b", nil)
	w.RawTuple(3, 1, "default", raw, nil)
	w.StringTuple(3, 1, "default", "c", edges)
	w.RawTuple(3, 1, "default", raw, edges)
	err = w.Tuple(3, 1, "default", []any{"bad", make(chan int)}, nil)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "stream default from task 1") {
		t.Fatalf("unencodable value: err %v, want ErrUnsupported naming the stream and task", err)
	}
	if err := w.Item(&want.Batch.Items[5]); err != nil {
		t.Fatal(err)
	}
	if err := w.Tuple(4, 1, "default", []any{"d", 2.5}, nil); err != nil {
		t.Fatal(err)
	}
	b := w.Finish()
	if string(b[:6]) != "prefix" {
		t.Fatalf("Finish lost the bytes before the frame: %q", b[:6])
	}
	var got Frame
	if err := DecodeFrame(b[6:], &got); err != nil {
		t.Fatal(err)
	}
	if !framesEqual(want, &got) {
		t.Fatalf("frame:\n got %+v\nwant %+v", got, *want)
	}
}
