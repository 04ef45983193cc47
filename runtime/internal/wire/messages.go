package wire

import "fmt"

// Kind tags a frame and each item of a batch. Its values are part of the wire
// format: never renumber them.
type Kind uint8

// Frame kinds.
const (
	KindBatch  Kind = 1 // a [Batch] of items
	KindHello  Kind = 2 // a [Hello] handshake
	KindCredit Kind = 3 // a [Credit] grant
	KindRefuse Kind = 4 // a [Refuse] reply to a Hello
)

// Item kinds, inside a [Batch].
const (
	KindTuple     Kind = 16 // a [Tuple]; on the wire, tuples travel in runs
	KindBarrier   Kind = 17 // a checkpoint [Barrier]
	KindWatermark Kind = 18 // an event-time [Watermark]
	KindAcker     Kind = 19 // an [AckerMsg] to an acker task
	KindSpoutDone Kind = 20 // a [SpoutDone] from an acker to a spout task
	// KindRun is the wire form of consecutive tuple items with the same
	// destination, source task and stream; a [Decoder] turns it back into
	// one [KindTuple] item per tuple.
	KindRun Kind = 21
)

func (k Kind) String() string {
	switch k {
	case KindBatch:
		return "batch"
	case KindHello:
		return "hello"
	case KindCredit:
		return "credit"
	case KindRefuse:
		return "refuse"
	case KindTuple:
		return "tuple"
	case KindBarrier:
		return "barrier"
	case KindWatermark:
		return "watermark"
	case KindAcker:
		return "acker"
	case KindSpoutDone:
		return "spout_done"
	case KindRun:
		return "run"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Edge places a tuple in one at-least-once tuple tree: Root is the id of the
// spout tuple that started the tree, ID the edge id of this tuple in it.
type Edge struct {
	Root, ID uint64
}

// Tuple is one tuple on its way to a task of another worker. The receiver
// derives the source component from SourceTask and the field names from the
// topology.
type Tuple struct {
	Dest       int32  // destination task id
	SourceTask int32  // task that emitted the tuple
	Stream     string // stream it was emitted on
	// Values are the values in field order. A sender sets Values; if it
	// leaves them nil, Raw is sent as is (forwarding without re-encoding).
	// A lazy [Decoder] leaves Values nil; an eager one sets both.
	Values []any
	// Raw holds the values still encoded, as received; zero on the sender
	// unless it forwards a received tuple.
	Raw RawValues
	// Edges lists, for each tuple tree the tuple belongs to, the tree's root
	// and this tuple's edge id. Empty when the tuple is untracked.
	Edges []Edge
}

// Barrier is a checkpoint barrier from SourceTask to Dest. It travels in
// order with the tuples of the same link.
type Barrier struct {
	Checkpoint uint64
	SourceTask int32
	Dest       int32
}

// Watermark says SourceTask has emitted every tuple with event time at or
// before Time (unix nanoseconds) to Dest.
type Watermark struct {
	Time       int64
	SourceTask int32
	Dest       int32
}

// Acker operations of an [AckerMsg].
const (
	AckerInit uint8 = 1 // a spout registered a tree: Value is the XOR of its first edges
	AckerAck  uint8 = 2 // a task acked: Value is the XOR of the acked edge and its children
	AckerFail uint8 = 3 // a task failed the tree
)

// AckerMsg is control traffic from a task to the acker task Dest about tree
// Root. SpoutTask is the spout task that owns the tree.
type AckerMsg struct {
	Op        uint8
	Root      uint64
	Value     uint64
	SpoutTask int32
	Dest      int32
}

// SpoutDone tells spout task Dest that tree Root completed (Ok) or failed.
type SpoutDone struct {
	Root uint64
	Ok   bool
	Dest int32
}

// Item is one element of a [Batch]: Kind says which of the other fields is
// set. It is a tagged struct rather than an interface so that a batch
// decodes into one slice without an allocation per item.
type Item struct {
	Kind      Kind
	Tuple     Tuple
	Barrier   Barrier
	Watermark Watermark
	Acker     AckerMsg
	SpoutDone SpoutDone
}

// Dest returns the destination task of the item.
func (it *Item) Dest() int32 {
	switch it.Kind {
	case KindTuple:
		return it.Tuple.Dest
	case KindBarrier:
		return it.Barrier.Dest
	case KindWatermark:
		return it.Watermark.Dest
	case KindAcker:
		return it.Acker.Dest
	case KindSpoutDone:
		return it.SpoutDone.Dest
	}
	return 0
}

// Batch is a sequence of items, usually for the tasks of one destination
// worker, in the order they were emitted.
type Batch struct {
	Items []Item
}

// Len returns the number of items.
func (b *Batch) Len() int { return len(b.Items) }

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.Items) // drop references to values
	b.Items = b.Items[:0]
}

// AddTuple appends a tuple item.
func (b *Batch) AddTuple(t Tuple) { b.Items = append(b.Items, Item{Kind: KindTuple, Tuple: t}) }

// AddBarrier appends a barrier item.
func (b *Batch) AddBarrier(x Barrier) {
	b.Items = append(b.Items, Item{Kind: KindBarrier, Barrier: x})
}

// AddWatermark appends a watermark item.
func (b *Batch) AddWatermark(x Watermark) {
	b.Items = append(b.Items, Item{Kind: KindWatermark, Watermark: x})
}

// AddAcker appends an acker message item.
func (b *Batch) AddAcker(x AckerMsg) { b.Items = append(b.Items, Item{Kind: KindAcker, Acker: x}) }

// AddSpoutDone appends a spout-done item.
func (b *Batch) AddSpoutDone(x SpoutDone) {
	b.Items = append(b.Items, Item{Kind: KindSpoutDone, SpoutDone: x})
}

// Hello is the first frame on every connection, sent by the dialing worker
// and answered by the accepting one with its own Hello (or a [Refuse]).
type Hello struct {
	Topology string // topology name; both ends must agree
	Worker   int    // the sender's worker index in the assignment
	Epoch    uint64 // the assignment epoch the sender runs under
	Token    string // optional shared secret; empty when none is configured
	// Session is the run of the topology the sender belongs to: the
	// workers of an exactly-once topology restart together from a
	// checkpoint, and each restart is a new session whose links must not
	// mix with the previous one's. Zero when the topology has no sessions.
	Session uint64
}

// Credit grants the peer permission to send N more batch frames.
type Credit struct {
	N uint32
}

// Refuse answers a Hello the receiver will not accept, with the reason.
type Refuse struct {
	Reason string
}

// Frame is one message of the transport. Kind says which field is set.
type Frame struct {
	Kind   Kind
	Batch  Batch
	Hello  Hello
	Credit Credit
	Refuse Refuse
}
