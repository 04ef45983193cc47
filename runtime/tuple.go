package runtime

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/topology"
)

// edge places a tuple in one spout tuple tree: the tree's root id and the
// tuple's own edge id in it.
type edge struct {
	root, id uint64
}

// tuple is the runtime's tuple. In a worker, tuples pass between tasks by
// pointer, never encoded. A tracked tuple sent to several tasks is copied per
// task (the values are shared), because each copy has its own edge ids and
// ack value; an untracked one is shared.
//
// A tuple's values need not be in Vals yet (see lazyKind): a tuple emitted
// through topology.StringEmitter holds its one string unboxed, and one that
// came from another worker holds its values still in msgpack, as the frame
// brought them (a wire.RawValues). The typed getters read such values in
// place, without boxing them; Values, Value and Get move them into Vals
// first, once (see data). Moving them writes the tuple, so two goroutines
// must not call those on one tuple at once; the typed getters only read.
// (The runtime reads an input's values only before its Execute, so a bolt
// may hand the input to another goroutine, which may then call anything.)
//
// The fields an untracked tuple uses come first and fill 64 bytes, and the
// tuple is padded to 128, so that they share one cache line: a tuple is
// written on one core and read on another, and every line it spans costs a
// transfer between them. A wire.RawValues (32 bytes) does not fit in that
// line beside TupleData, so the tuple holds a pointer to it, in the word
// that otherwise points to an unboxed string's bytes; the tuples of a
// received batch and their RawValues come from two slabs (see inbound).
type tuple struct {
	topology.TupleData // 40 bytes

	// lazy points to the values not yet in Vals: the bytes of the unboxed
	// string (lazyStr), whose length is strLen, or a wire.RawValues
	// (lazyRaw). Only tuples with one receiver carry an unboxed string
	// (boxing it is the receiver's job, see topology.StringEmitter); any
	// tuple from another worker may carry raw values. The receiving task
	// moves them into Vals on the first call that needs Vals.
	lazy   unsafe.Pointer
	strLen int
	kind   lazyKind
	// own says the tuple has exactly one receiving task in this process,
	// which may therefore recycle it (see recycle).
	own bool
	// done is set when the receiving task acked or failed the tuple. It is
	// kept only for tuples with one receiver (own) or tracked ones.
	done bool
	// tracked says edges is not empty.
	tracked bool
	_       [4]byte

	// edges are the trees the tuple belongs to; nil for an untracked tuple.
	// Most tuples belong to one tree, so edges starts in edge0.
	edges []edge
	edge0 [1]edge
	// ackVal is the XOR of the edge ids of the children anchored to this
	// tuple. Only the receiving task's goroutine touches it.
	ackVal uint64
	_      [16]byte
}

// lazyKind says where a tuple's values are.
type lazyKind uint8

const (
	// inVals: the values are in Vals.
	inVals lazyKind = iota
	// lazyStr: the tuple's one value is the string at lazy, strLen bytes
	// long, not yet boxed.
	lazyStr
	// lazyRaw: the values are the *wire.RawValues at lazy, still encoded.
	// They were validated when the frame was decoded, so decoding them
	// cannot fail.
	lazyRaw
)

// setStr makes s the tuple's one value, unboxed.
func (t *tuple) setStr(s string) {
	t.lazy, t.strLen, t.kind = unsafe.Pointer(unsafe.StringData(s)), len(s), lazyStr
}

// str returns the unboxed string of a lazyStr tuple.
func (t *tuple) str() string { return unsafe.String((*byte)(t.lazy), t.strLen) }

// setRaw makes r the tuple's values. r must stay unchanged as long as the
// tuple is used.
func (t *tuple) setRaw(r *wire.RawValues) {
	t.lazy, t.strLen, t.kind = unsafe.Pointer(r), 0, lazyRaw
}

// raw returns the encoded values of a lazyRaw tuple.
func (t *tuple) raw() *wire.RawValues { return (*wire.RawValues)(t.lazy) }

// dropValues clears the values and what points to them, so that a free
// tuple keeps nothing alive.
func (t *tuple) dropValues() {
	t.Vals, t.lazy, t.strLen, t.kind = nil, nil, 0, inVals
}

// valueDecoders hold the wire.ValueDecoders that materialize raw values. A
// ValueDecoder is not safe for concurrent use, and a bolt may hand its
// input to another goroutine, which then materializes it there; a pool
// gives each caller its own decoder without a per-task one being shared.
var valueDecoders = sync.Pool{New: func() any { return new(wire.ValueDecoder) }}

// data returns the tuple's TupleData with Vals filled in.
func (t *tuple) data() *topology.TupleData {
	switch t.kind {
	case inVals:
		return &t.TupleData
	case lazyStr:
		t.Vals = topology.Values{t.str()}
	case lazyRaw:
		vd := valueDecoders.Get().(*wire.ValueDecoder)
		vals, err := vd.Decode(*t.raw())
		valueDecoders.Put(vd)
		if err != nil {
			// Cannot happen: the frame's decoder validated the values.
			// The executor recovers the panic and fails the tuple.
			panic(fmt.Errorf("runtime: decode a tuple of stream %s/%s from task %d: %w", t.Origin.Component, t.Origin.Stream, t.SourceTaskID, err))
		}
		t.Vals = vals
	}
	t.lazy, t.strLen, t.kind = nil, 0, inVals
	return &t.TupleData
}

// The getters. Values, Value and Get need Vals; the typed getters read an
// unboxed string or raw values in place (see raw.go for the latter), and
// box an unboxed string only for a field it cannot answer.

func (t *tuple) Values() topology.Values { return t.data().Vals }
func (t *tuple) Value(i int) any         { return t.data().Value(i) }
func (t *tuple) Get(f string) (any, bool) {
	return t.data().Get(f)
}

func (t *tuple) Len() int {
	switch t.kind {
	case lazyStr:
		return 1
	case lazyRaw:
		return t.raw().Len()
	}
	return len(t.Vals)
}

func (t *tuple) String(field string) string {
	switch t.kind {
	case lazyStr:
		if len(t.Origin.Fields) == 1 && t.Origin.Fields[0] == field {
			return t.str()
		}
	case lazyRaw:
		return t.rawString(t.rawIndex(field), field)
	}
	return t.data().String(field)
}

func (t *tuple) StringAt(i int) string {
	switch t.kind {
	case lazyStr:
		if i == 0 {
			return t.str()
		}
	case lazyRaw:
		return t.rawString(t.rawAt(i), "")
	}
	return t.data().StringAt(i)
}

func (t *tuple) Int64(f string) int64 {
	if t.kind == lazyRaw {
		return t.rawInt64(t.rawIndex(f), f)
	}
	return t.data().Int64(f)
}

func (t *tuple) Float64(f string) float64 {
	if t.kind == lazyRaw {
		return t.rawFloat64(t.rawIndex(f), f)
	}
	return t.data().Float64(f)
}

func (t *tuple) Bool(f string) bool {
	if t.kind == lazyRaw {
		return t.rawBool(t.rawIndex(f), f)
	}
	return t.data().Bool(f)
}

func (t *tuple) Bytes(f string) []byte {
	if t.kind == lazyRaw {
		return t.rawBytes(t.rawIndex(f), f)
	}
	return t.data().Bytes(f)
}

func (t *tuple) Int64At(i int) int64 {
	if t.kind == lazyRaw {
		return t.rawInt64(t.rawAt(i), "")
	}
	return t.data().Int64At(i)
}

func (t *tuple) Float64At(i int) float64 {
	if t.kind == lazyRaw {
		return t.rawFloat64(t.rawAt(i), "")
	}
	return t.data().Float64At(i)
}

func (t *tuple) BoolAt(i int) bool {
	if t.kind == lazyRaw {
		return t.rawBool(t.rawAt(i), "")
	}
	return t.data().BoolAt(i)
}

func (t *tuple) BytesAt(i int) []byte {
	if t.kind == lazyRaw {
		return t.rawBytes(t.rawAt(i), "")
	}
	return t.data().BytesAt(i)
}

// Recycling. [topology.Tuple] lets a bolt keep an input only until it acked
// or failed it, so once both Execute returned and the tuple was acked or
// failed, the receiving task puts it back for the next emit, which spares
// the allocation and the garbage collection of one tuple per emitted tuple.
// A tuple sent to several tasks (own false) is never recycled, nor a tick.
// One that came from another worker is, by its receiving task, for that
// task's own emits: it then stops pointing into its frame (dropValues) when
// an emitter takes it.
//
// Tuples travel from the emitting task to the receiving one in batches, and
// back in chunks through tuplePool: the receiver collects freed tuples in the
// slice its batch came in and puts it in the pool; an emitter takes a chunk
// when it runs out, pops tuples from it, and uses the emptied slice for its
// next batch. A chunk costs the pool one Get and one Put, not every tuple.
var tuplePool sync.Pool // of *[]*tuple, each a chunk of released tuples

// release readies t to go back for reuse: it clears its flags, so that a
// second ack of it (which the Tuple contract forbids) cannot recycle it
// twice, and its edges. Its values stay while the tuple waits in the pool
// (which drops what it holds within two garbage collections) and are
// cleared when an emitting task takes it (see takeTuple): clearing them here
// would cost two more pointer writes on the receiving core, which a write
// barrier slows while the collector runs.
func (t *tuple) release() {
	if t.tracked {
		t.edges, t.ackVal = nil, 0
	}
	t.kind, t.own, t.done, t.tracked = inVals, false, false, false
}

// putChunk puts a chunk of released tuples into the pool.
func putChunk(ts []*tuple) {
	if len(ts) == 0 {
		return
	}
	p := new([]*tuple)
	*p = ts
	tuplePool.Put(p)
}

// msgKind tells apart what travels through a task's data queue. Barriers and
// watermarks travel in the same queue as tuples, so they keep their order.
type msgKind uint8

const (
	msgTuples msgKind = iota
	// msgEnd says the sending task has stopped and will send nothing more.
	msgEnd
	// msgBarrier carries checkpoint barrier n from one upstream task.
	msgBarrier
	// msgWatermark carries an event-time watermark from one upstream task.
	msgWatermark
)

// msg is one item of a task's data queue.
type msg struct {
	kind   msgKind
	from   topology.TaskID
	tuples []*tuple
	n      int64 // checkpoint id or watermark
}

// The layout the comment on tuple describes.
var _ = [1]struct{}{}[unsafe.Offsetof(tuple{}.edges)-64]
var _ = [1]struct{}{}[unsafe.Sizeof(tuple{})-128]
