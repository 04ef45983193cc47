// Package runtime executes topologies built with package topology.
//
// # Running a topology
//
// [Start] opens every spout and prepares every bolt, starts one goroutine
// per task, and returns a [*Local]; [Local.Stop] stops it gracefully. [Run]
// does both around a context, for programs:
//
//	topo, err := b.Build()
//	...
//	err = runtime.Run(ctx, topo, runtime.Options{Registerer: reg})
//
// Package runtime/runtimetest wraps Start for tests: it starts a topology,
// waits for conditions, and stops it when the test ends.
//
// # The life of a tuple
//
// A spout task calls its spout's Next in a loop. Each emit is routed by the
// subscribers' groupings to receiving tasks; the tuple is appended to a
// pending batch per receiving task. A batch is handed over when it holds
// BatchSize tuples, when the emitting task has nothing else to do, or when
// FlushInterval has passed, so the per-tuple cost is an append, not a
// channel operation. Inside a process tuples pass by pointer, never encoded.
//
// Each task has a bounded inbound queue (QueueSize tuples). A full queue
// blocks the task that sends to it: a slow bolt slows its upstream, and the
// block propagates back to the spouts. That is backpressure; memory stays
// bounded by the queue sizes, and the time spent blocked is counted in
// gale_executor_backpressure_seconds_total.
//
// The receiving bolt task executes the tuples of a batch one by one. It acks
// or fails each input (a basic bolt does so for it), and may emit new tuples
// anchored to its inputs.
//
// # Tracking (at-least-once)
//
// With AtLeastOnce delivery, a spout tuple emitted with a message id starts a
// tuple tree. The spout task picks a random 64-bit root id and an edge id per
// receiving task, and sends the XOR of the edge ids to an acker task (root id
// modulo the number of ackers). A bolt emitting a tuple anchored to an input
// gives the new tuple a fresh edge id and XORs it into the input's ack value;
// acking the input sends the input's edge id XOR its ack value to the acker.
// Every id thus enters the acker's checksum twice, and the tree is complete
// when the checksum returns to zero (see runtime/internal/acker). The acker
// then tells the spout task, which calls the spout's Ack. A failed tuple
// fails its trees at once; a tree that does not complete within
// MessageTimeout fails at its spout task. A spout task has at most
// MaxSpoutPending trees in flight.
//
// Tracking traffic (to ackers, and from ackers to spouts) flows through
// unbounded queues, because it runs against the data: bounded queues there
// could close a cycle of full queues and deadlock, as in early Storm. Those
// queues are bounded in practice by max pending times the tree sizes.
//
// # Failures
//
// A panic in a spout's or bolt's code is recovered: the current tuple fails,
// the panic is logged with its stack, topology, component and task, and
// counted in gale_executor_panics_total; the task carries on. An error
// returned by Execute fails the tuple likewise. Logs of repeated errors are
// limited to one a second per task; the counters count them all.
//
// # Stopping
//
// [Local.Stop] first stops the spouts calling Next; each spout task waits for
// its trees in flight to complete, fail or time out, then sends an end marker
// to every task downstream and closes its spout. A bolt task drains its
// queue, and once every upstream task has ended, flushes, tells its own
// downstream, and cleans up. When the spout and bolt tasks are done, the
// ackers stop. The stop is bounded by its context and ShutdownTimeout; past
// it, the work in flight is abandoned, every task still runs Close or
// Cleanup, and no goroutine outlives Stop.
//
// # Exactly-once
//
// With ExactlyOnce delivery nothing is acked; instead a coordinator starts a
// checkpoint every CheckpointInterval. Each spout task snapshots its
// position (see topology.Checkpointer) and sends barrier n downstream behind
// its tuples; each bolt task aligns the barriers of its inputs (holding back
// what arrives from inputs that already sent theirs), flushes its keyed
// state's write-back cache, snapshots, and passes the barrier on. When every
// task has reported, the worker's Pebble store is checkpointed (see package
// state) and checkpoint n is complete; only then are the tasks told (a Kafka
// spout commits its offsets there, a two-phase sink commits its writes). A
// failed tuple, an error or a panic kills the topology, and [Run] restarts
// it: every task restores its keyed state and snapshot from the last
// complete checkpoint, and spouts rewind, so state reflects every input
// exactly once. With no complete checkpoint yet, every task starts empty,
// whatever a crashed run left in Options.StateDir. A task that failed a tuple makes every later checkpoint
// fail, since its state misses that tuple.
//
// # Event time
//
// A component declared with topology.EventTime sends watermarks downstream,
// in order with its tuples; a bolt task's watermark is the minimum over its
// event-time inputs, and advancing it calls the bolt's OnWatermark. When
// every input has ended, the watermark jumps to topology.EndOfTime.
//
// # Several workers
//
// With Options.Worker, each of several processes runs its share of the tasks
// (a [WorkerPlan]) and reaches the others through package runtime/transport:
// msgpack frames of tuples, barriers, watermarks and tracking messages, with
// credit-based flow control, so backpressure crosses processes. Each
// receiving component gets its own link from each worker, so that blocked
// links wait only on components downstream and cannot deadlock; tracking
// traffic has a link of its own and never waits on a task's goroutine.
// Every worker runs ackers for its own spouts. A task sending to another
// worker writes its batch's tuples straight into the frame, in the form
// it holds them (values, an unboxed string), on its own goroutine.
//
// A received tuple's values stay encoded: the transport validates the
// frame but decodes no values, and the tuple handed to the receiving task
// points into the frame. Its typed getters (StringAt, Int64, ...) read one
// value in place, allocating nothing for numbers, bools and strings;
// Values, Value and Get decode all of them once, on the goroutine that
// calls them. So the decoding a bolt needs runs on its own task, in
// parallel across tasks, rather than on the connection's reader, as Flink
// deserializes a record in the task that consumes it. Strings read from a
// received tuple alias its frame: keeping one keeps the frame (shared by
// many tuples) alive, which is why topology.Tuple asks bolts to clone
// strings they keep for long.
//
// An ExactlyOnce topology in several workers runs in sessions that worker 0
// leads (see [Run] and Options.Space): it triggers every checkpoint on
// every worker, records a checkpoint as complete in the shared checkpoint
// space only when every worker has stored its part, and after any failure
// (a task, a worker's process, the leader itself) starts a new session in
// which every worker restores that checkpoint, each task taking its own key
// groups from the parts of all the old workers (so a changed placement or
// number of workers restores too). Links carry their session in the
// handshake, so nothing of an earlier session reaches a later one.
//
// # Metrics
//
// The runtime registers its metrics on Options.Registerer, labelled with the
// topology, component and task (and stream or source where they apply):
// emitted, transferred, executed, acked, failed and timed-out tuples,
// execute and complete latency histograms, queue depth and capacity, busy
// and backpressure time, panics, errors, spout and acker pending counts.
// Execute latency is sampled: one tuple per batch is timed (reading the
// clock costs as much as a light bolt's Execute), so the histogram's count
// is a count of batches; every counter is exact.
package runtime
