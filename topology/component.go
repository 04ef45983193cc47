package topology

import (
	"context"
	"log/slog"
)

// Context describes the task a spout or bolt instance runs as. The runtime
// builds one per task and passes it to [Spout.Open] and [Bolt.Prepare]; it
// does not change afterwards, and the component may keep it.
type Context struct {
	// Topology is the topology's name.
	Topology string
	// Component is the component this task belongs to.
	Component ComponentID
	// Task is the task's id, unique within the topology.
	Task TaskID
	// Index is the task's position among its component's tasks, from 0 to
	// Parallelism-1.
	Index int
	// Parallelism is the number of tasks of the component.
	Parallelism int
	// Config is the topology's configuration, defaults applied.
	Config Config
	// Logger carries the topology, component and task attributes.
	Logger *slog.Logger

	// Topo is the topology the task belongs to.
	Topo *Topology

	// Services holds what the runtime offers a task beyond the core contract,
	// such as keyed state (see package state). It is nil when the runtime
	// offers nothing; packages that use it type-assert it to the interface
	// they declare.
	Services any
}

// ComponentTasks returns the task ids of component c, in index order, or nil
// when the topology has no such component. Spouts and bolts use it to pick
// targets for [Emitter.EmitDirect].
func (c *Context) ComponentTasks(id ComponentID) []TaskID {
	if c.Topo == nil {
		return nil
	}
	return c.Topo.Tasks(id)
}

// Spout is a source of tuples.
//
// The runtime creates one instance per task (through the component's
// [SpoutFactory]) and calls every method from that task's own goroutine, never
// concurrently, so a spout needs no locks for its own fields.
type Spout interface {
	// Open is called once, before any other method. tc stays valid for the
	// life of the task. A non-nil error stops the topology's start.
	Open(ctx context.Context, tc *Context) error

	// Next emits zero or more tuples through out. The runtime calls it in a
	// loop while the spout is active and the task has room for more tuples in
	// flight. Next must not block for long: return without emitting when no
	// data is ready, and the runtime backs off briefly before the next call.
	// ctx is cancelled when the topology stops. out is valid only during the
	// call. A non-nil error is logged and counted; the runtime keeps calling.
	Next(ctx context.Context, out SpoutEmitter) error

	// Ack tells the spout that the tuple tree of msgID completed: every tuple
	// in it was acked. It is called only for tuples emitted with a non-nil
	// message id, in topologies with at-least-once delivery.
	Ack(msgID any)

	// Fail tells the spout that the tuple tree of msgID failed, explicitly or
	// by timing out. The spout decides whether to emit it again.
	Fail(msgID any)

	// Close is called once when the task stops; no other method follows.
	Close() error
}

// Activator is implemented by spouts that want to know when the topology is
// activated or deactivated. Both are called on the task's goroutine; Next is
// not called while the spout is inactive. Spouts start active.
type Activator interface {
	Activate()
	Deactivate()
}

// SpoutEmitter is how a spout emits. It belongs to the spout task's
// goroutine and must not be used from another one or after Next returns.
type SpoutEmitter interface {
	// Emit sends values on the default stream. With a non-nil msgID and
	// at-least-once delivery, the tuple tree is tracked and the spout's Ack
	// or Fail is later called with msgID. The runtime keeps values; do not
	// reuse the slice.
	Emit(values Values, msgID any)
	// EmitStream is Emit on a named stream.
	EmitStream(stream StreamID, values Values, msgID any)
	// EmitDirect sends to one task of a bolt that subscribed to the direct
	// stream with the direct grouping.
	EmitDirect(task TaskID, stream StreamID, values Values, msgID any)
	// ReportError records an error against the task: it is logged with the
	// task's attributes and counted.
	ReportError(err error)
}

// Emitter is how a bolt emits, acks and fails. It belongs to the bolt task's
// goroutine and must not be used from another one.
//
// Anchors tie an emitted tuple to the input tuples it came from, so that the
// spout tuple trees they belong to complete only when the new tuple is acked
// too. Emitting without anchors makes an untracked tuple.
type Emitter interface {
	// Emit sends values on the default stream, anchored to anchors.
	Emit(values Values, anchors ...Tuple)
	// EmitStream sends values on a named stream, anchored to anchors.
	EmitStream(stream StreamID, values Values, anchors ...Tuple)
	// EmitDirect sends values to one task of a direct stream.
	EmitDirect(task TaskID, stream StreamID, values Values, anchors ...Tuple)
	// Ack marks t as processed. Every input must be acked or failed exactly
	// once, now or later (but on this goroutine).
	Ack(t Tuple)
	// Fail marks t as failed: its spout tuple trees fail at once.
	Fail(t Tuple)
	// ReportError records an error against the task without failing a tuple.
	ReportError(err error)
}

// Bolt processes tuples.
//
// The runtime creates one instance per task (through the component's
// [BoltFactory]) and calls every method from that task's own goroutine, never
// concurrently.
type Bolt interface {
	// Prepare is called once, before any tuple. tc stays valid for the life
	// of the task. A non-nil error stops the topology's start.
	Prepare(ctx context.Context, tc *Context) error

	// Execute processes one input tuple, and acks or fails it through out,
	// now or in a later call. A returned error fails t (unless it was already
	// acked or failed) and is logged and counted. A panic is recovered, fails
	// t, and is logged with its stack. out belongs to the task; it may be
	// kept and used in later calls on the same goroutine.
	Execute(ctx context.Context, t Tuple, out Emitter) error

	// Cleanup is called once when the task stops, after its last Execute.
	Cleanup() error
}

// SpoutFactory creates the spout instance of one task.
type SpoutFactory func() Spout

// BoltFactory creates the bolt instance of one task.
type BoltFactory func() Bolt

// SpoutFunc adapts a function to a stateless [Spout] whose Next is the
// function; Open, Ack, Fail and Close do nothing.
type SpoutFunc func(ctx context.Context, out SpoutEmitter) error

func (f SpoutFunc) Open(context.Context, *Context) error             { return nil }
func (f SpoutFunc) Next(ctx context.Context, out SpoutEmitter) error { return f(ctx, out) }
func (f SpoutFunc) Ack(any)                                          {}
func (f SpoutFunc) Fail(any)                                         {}
func (f SpoutFunc) Close() error                                     { return nil }

// Factory returns a factory that hands every task the same function.
func (f SpoutFunc) Factory() SpoutFactory { return func() Spout { return f } }

// BoltFunc adapts a function to a stateless [Bolt] whose Execute is the
// function; Prepare and Cleanup do nothing. The function acks and fails
// itself; see [BasicFunc] for one that is acked for you.
type BoltFunc func(ctx context.Context, t Tuple, out Emitter) error

func (f BoltFunc) Prepare(context.Context, *Context) error { return nil }
func (f BoltFunc) Execute(ctx context.Context, t Tuple, out Emitter) error {
	return f(ctx, t, out)
}
func (f BoltFunc) Cleanup() error { return nil }

// Factory returns a factory that hands every task the same function, which
// must therefore be safe to call from several goroutines.
func (f BoltFunc) Factory() BoltFactory { return func() Bolt { return f } }
