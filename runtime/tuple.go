package runtime

import "github.com/gale-stream/gale/topology"

// edge places a tuple in one spout tuple tree: the tree's root id and the
// tuple's own edge id in it.
type edge struct {
	root, id uint64
}

// tuple is the runtime's tuple. In a worker, tuples pass between tasks by
// pointer, never encoded. A tracked tuple sent to several tasks is copied per
// task (the values are shared), because each copy has its own edge ids and
// ack value; an untracked one is shared.
type tuple struct {
	topology.TupleData

	// edges are the trees the tuple belongs to; nil for an untracked tuple.
	// Most tuples belong to one tree, so edges starts in edge0.
	edges []edge
	edge0 [1]edge
	// ackVal is the XOR of the edge ids of the children anchored to this
	// tuple. Only the receiving task's goroutine touches it.
	ackVal uint64
	// done is set when the receiving task acked or failed the tuple.
	done bool
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
