package runtime

import (
	"sync"
	"unsafe"

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
// The fields an untracked tuple uses come first and fill 64 bytes, and the
// tuple is padded to 128, so that they share one cache line: a tuple is
// written on one core and read on another, and every line it spans costs a
// transfer between them.
type tuple struct {
	topology.TupleData // 40 bytes

	// str is the tuple's one value when isStr: not yet boxed into Vals (see
	// topology.StringEmitter). Only tuples with one receiver are emitted so,
	// and that receiver boxes it on the first call that needs Vals.
	str   string
	isStr bool
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

// data returns the tuple's TupleData with Vals filled in.
func (t *tuple) data() *topology.TupleData {
	if t.isStr {
		t.Vals = topology.Values{t.str}
		t.isStr, t.str = false, ""
	}
	return &t.TupleData
}

// The getters of an unboxed string tuple. The string getters read str
// directly; the others box it first.

func (t *tuple) Values() topology.Values { return t.data().Vals }
func (t *tuple) Value(i int) any         { return t.data().Value(i) }
func (t *tuple) Get(f string) (any, bool) {
	return t.data().Get(f)
}

func (t *tuple) Len() int {
	if t.isStr {
		return 1
	}
	return len(t.Vals)
}

func (t *tuple) String(field string) string {
	if t.isStr && len(t.Origin.Fields) == 1 && t.Origin.Fields[0] == field {
		return t.str
	}
	return t.data().String(field)
}

func (t *tuple) StringAt(i int) string {
	if t.isStr && i == 0 {
		return t.str
	}
	return t.data().StringAt(i)
}

func (t *tuple) Int64(f string) int64     { return t.data().Int64(f) }
func (t *tuple) Float64(f string) float64 { return t.data().Float64(f) }
func (t *tuple) Bool(f string) bool       { return t.data().Bool(f) }
func (t *tuple) Bytes(f string) []byte    { return t.data().Bytes(f) }
func (t *tuple) Int64At(i int) int64      { return t.data().Int64At(i) }
func (t *tuple) Float64At(i int) float64  { return t.data().Float64At(i) }
func (t *tuple) BoolAt(i int) bool        { return t.data().BoolAt(i) }
func (t *tuple) BytesAt(i int) []byte     { return t.data().BytesAt(i) }

// Recycling. [topology.Tuple] lets a bolt keep an input only until it acked
// or failed it, so once both Execute returned and the tuple was acked or
// failed, the receiving task puts it back for the next emit, which spares
// the allocation and the garbage collection of one tuple per emitted tuple.
// A tuple sent to several tasks (own false) is never recycled, nor one that
// came from another worker or a tick.
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
	t.isStr, t.own, t.done, t.tracked = false, false, false, false
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
