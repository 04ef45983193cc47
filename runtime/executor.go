package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// inbox is what other tasks use to reach a task.
type inbox struct {
	// data carries tuples, barriers, watermarks and end markers in order. It
	// is bounded: a full queue blocks its producers (backpressure).
	data chan msg
	// depth counts the tuples in data.
	depth atomic.Int64
	// acks carries tracking messages to an acker task.
	acks *ctrlQueue[ackMsg]
	// ctrl carries control messages to a spout or bolt task: tree outcomes
	// from ackers, checkpoint triggers and completions from the
	// coordinator. It never blocks its producers.
	ctrl *ctrlQueue[ctrlMsg]
}

// ackOp is the kind of a tracking message.
type ackOp uint8

const (
	opInit ackOp = iota + 1
	opAck
	opFail
)

// ackMsg is a tracking message to an acker task.
type ackMsg struct {
	op    ackOp
	root  uint64
	val   uint64
	spout topology.TaskID
}

// ctrlKind is the kind of a control message.
type ctrlKind uint8

const (
	// ctrlTreeDone tells a spout task that tree root completed (ok) or failed.
	ctrlTreeDone ctrlKind = iota + 1
	// ctrlCheckpoint tells a spout task to start checkpoint id.
	ctrlCheckpoint
	// ctrlCheckpointDone tells a task that checkpoint id completed.
	ctrlCheckpointDone
)

// ctrlMsg is a control message to a spout or bolt task.
type ctrlMsg struct {
	kind ctrlKind
	ok   bool
	root uint64
	id   uint64
}

// streamOut is one output stream of one task: its routes and counters.
type streamOut struct {
	id     topology.StreamID
	fields topology.Fields
	origin *topology.Origin // shared by the tuples of this stream
	direct bool
	routes []*route
	// strMode says whether tuples can be emitted as unboxed strings: 0 not
	// known yet, 1 yes, -1 no (see executor.takesString).
	strMode int8
	// directTasks are the tasks subscribed with the direct grouping.
	directTasks map[topology.TaskID]bool

	emitted, transferred   prometheus.Counter
	nEmitted, nTransferred int64 // not yet added to the counters
}

// executor runs one task. Every field is owned by the task's goroutine; other
// goroutines reach the task only through its inbox.
type executor struct {
	l    *Local
	comp *topology.Component
	task topology.TaskID
	tc   *topology.Context
	log  *slog.Logger
	tm   *taskMetrics
	in   *inbox

	spout topology.Spout
	bolt  topology.Bolt

	outs   map[topology.StreamID]*streamOut
	defOut *streamOut // outs[DefaultStream], the common case
	// downstream are the tasks that get an end marker when this task stops.
	downstream []topology.TaskID

	pend [][]*tuple // pending batch per destination task id
	// free are recycled tuples for this task's emits, and freeing the
	// tuples this task recycled outside executeBatch (see tuplePool).
	free, freeing []*tuple
	// spares are emptied chunks, each the slice of a next batch.
	spares [][]*tuple
	// cur is the address of the tuple whose Execute is running in
	// executeBatch (a uintptr, which costs no write barrier); every other
	// tuple the task received has returned from Execute.
	cur uintptr
	// nAcked counts the inputs acked since the last flushAll, which adds
	// them to the acked counter.
	nAcked int64
	// touched receives what prefetch reads, so the reads are not dropped.
	touched uintptr
	dirty   []topology.TaskID
	ackBuf  [][]ackMsg // pending tracking messages per acker index
	tbuf    []topology.TaskID

	tracking  bool
	batchSize int
	idState   uint64
	lastFlush time.Time
	now       time.Time

	errLog   time.Time // last error logged
	errQuiet int       // errors not logged since

	// failed is set when the task failed a tuple of an ExactlyOnce topology;
	// the topology is then being killed, and no checkpoint may complete.
	failed bool

	// backend is the task's keyed state, opened on first use.
	backend *state.Backend
	keyBuf  []byte

	// maxEvent is the largest event time the task emitted, and sentWM the
	// last watermark it sent, in Unix nanoseconds.
	maxEvent, sentWM int64
	lastWM           time.Time

	spoutState
	boltState
}

func (e *executor) String() string { return fmt.Sprintf("%s/%d", e.comp.ID, e.task) }

// newID returns a random non-zero 64-bit id (splitmix64).
func (e *executor) newID() uint64 {
	for {
		e.idState += 0x9e3779b97f4a7c15
		if id := mix64(e.idState); id != 0 {
			return id
		}
	}
}

// ackerOf returns the index of the acker task that tracks root.
func (e *executor) ackerOf(root uint64) int { return int(root % uint64(len(e.ackBuf))) }

func (e *executor) sendAck(m ackMsg) {
	i := e.ackerOf(m.root)
	e.ackBuf[i] = append(e.ackBuf[i], m)
	if len(e.ackBuf[i]) >= e.batchSize {
		e.flushAcks(i)
	}
}

func (e *executor) flushAcks(i int) {
	if len(e.ackBuf[i]) == 0 {
		return
	}
	acker := e.l.ackerBase + topology.TaskID(i)
	if in := e.l.inboxes[acker]; in != nil {
		in.acks.push(e.ackBuf[i]...)
	} else {
		e.sendAcksRemote(acker, e.ackBuf[i])
	}
	e.ackBuf[i] = e.ackBuf[i][:0]
}

// stream returns the output stream id, reporting an error if the component
// did not declare it.
func (e *executor) stream(id topology.StreamID) *streamOut {
	if id == topology.DefaultStream && e.defOut != nil {
		return e.defOut
	}
	so := e.outs[id]
	if so == nil {
		e.reportError(fmt.Errorf("runtime: %s emitted on undeclared stream %q", e.comp.ID, id))
	}
	return so
}

// targets returns the tasks values go to, in e.tbuf.
func (e *executor) targets(so *streamOut, values topology.Values, direct topology.TaskID, isDirect bool) ([]topology.TaskID, bool) {
	if len(values) != len(so.fields) {
		e.reportError(fmt.Errorf("runtime: %s emitted %d values on stream %s, which declares %d fields %v",
			e.comp.ID, len(values), so.id, len(so.fields), so.fields))
		return nil, false
	}
	dst := e.tbuf[:0]
	switch {
	case isDirect && !so.direct:
		e.reportError(fmt.Errorf("runtime: %s used EmitDirect on stream %s, which is not declared direct", e.comp.ID, so.id))
		return nil, false
	case isDirect:
		if !so.directTasks[direct] {
			e.reportError(fmt.Errorf("runtime: %s emitted directly to task %d, which does not subscribe to stream %s", e.comp.ID, direct, so.id))
			return nil, false
		}
		dst = append(dst, direct)
	case so.direct:
		e.reportError(fmt.Errorf("runtime: %s emitted on direct stream %s without EmitDirect", e.comp.ID, so.id))
		return nil, false
	default:
		for _, r := range so.routes {
			var err error
			if dst, err = r.choose(values, dst); err != nil {
				e.reportError(fmt.Errorf("%w (stream %s of %s)", err, so.id, e.comp.ID))
				return nil, false
			}
		}
	}
	e.tbuf = dst
	if e.comp.EventTime != nil {
		e.observeEventTime(so, values)
	}
	so.nEmitted++
	so.nTransferred += int64(len(dst))
	return dst, true
}

// newTuple returns a tuple of stream so holding values. own says it goes to
// one task only, which may then recycle it.
func (e *executor) newTuple(so *streamOut, values topology.Values, own bool) *tuple {
	t := e.takeTuple()
	// A recycled tuple comes released: only these fields need setting.
	t.Origin, t.SourceTaskID, t.Vals, t.own = so.origin, e.task, values, own
	return t
}

// takeTuple returns a released tuple, recycled when there is one.
func (e *executor) takeTuple() *tuple {
	n := len(e.free)
	if n == 0 {
		if p, _ := tuplePool.Get().(*[]*tuple); p != nil {
			e.free = *p
			// The chunk's tuples were last written on the core that
			// received them. Claim their lines together, so the misses
			// overlap, rather than one by one as emits reuse them (see
			// prefetch), and drop the values they still hold, so that a
			// task's free tuples keep no old values alive however long
			// it waits to emit.
			for _, t := range e.free {
				t.dropValues()
			}
		} else {
			// A slab of tuples, adjacent in memory and handed out in
			// order, so that a batch's tuples are too: the cores that
			// write and read them then stream through memory.
			slab := make([]tuple, e.batchSize)
			e.free = make([]*tuple, len(slab))
			for i := range slab {
				e.free[len(slab)-1-i] = &slab[i]
			}
		}
		n = len(e.free)
	}
	// The popped slot is not cleared: the slice carries a batch next, whose
	// appends overwrite it.
	t := e.free[n-1]
	e.free = e.free[:n-1]
	if n == 1 {
		// The emptied chunk carries the next batch.
		if len(e.spares) < maxSpares && cap(e.free) >= e.batchSize {
			e.spares = append(e.spares, e.free)
		}
		e.free = nil
	}
	return t
}

// maxSpares is how many emptied chunks a task keeps for its next batches:
// enough for batches to several destinations filling in turn.
const maxSpares = 8

// recycle puts t, which this task received, acked or failed, and finished
// executing, back for reuse. (executeBatch recycles the tuples acked during
// their own Execute itself.)
func (e *executor) recycle(t *tuple) {
	t.release()
	// freeing may wait long to fill: it keeps no values alive meanwhile.
	t.dropValues()
	if e.freeing == nil {
		e.freeing = make([]*tuple, 0, e.batchSize)
	}
	e.freeing = append(e.freeing, t)
	if len(e.freeing) >= e.batchSize {
		putChunk(e.freeing)
		e.freeing = nil
	}
}

// enqueue adds t to the pending batch of task dst, sending the batch when it
// is full.
func (e *executor) enqueue(dst topology.TaskID, t *tuple) {
	b := e.pend[dst]
	if len(b) == 0 {
		e.dirty = append(e.dirty, dst)
		if b == nil {
			if n := len(e.spares); n > 0 {
				b = e.spares[n-1]
				e.spares = e.spares[:n-1]
			} else {
				b = make([]*tuple, 0, e.batchSize)
			}
		}
	}
	b = append(b, t)
	e.pend[dst] = b
	if len(b) >= e.batchSize {
		e.sendBatch(dst)
	}
}

// sendBatch hands the pending batch of dst to its queue, blocking while the
// queue is full. The receiver owns the slice afterwards.
func (e *executor) sendBatch(dst topology.TaskID) {
	b := e.pend[dst]
	if len(b) == 0 {
		return
	}
	e.pend[dst] = nil
	e.send(dst, msg{kind: msgTuples, from: e.task, tuples: b})
}

// send puts m on the data queue of task dst. It blocks while the queue is
// full, and gives up when the topology is killed.
func (e *executor) send(dst topology.TaskID, m msg) bool {
	in := e.l.inboxes[dst]
	if in == nil {
		return e.sendRemote(dst, m)
	}
	n := int64(len(m.tuples))
	in.depth.Add(n)
	select {
	case in.data <- m:
		return true
	default:
	}
	start := time.Now()
	defer func() { e.tm.backpressure.Add(time.Since(start).Seconds()) }()
	select {
	case in.data <- m:
		return true
	case <-e.l.kill:
		in.depth.Add(-n)
		return false
	}
}

// flushAll sends every pending batch and tracking message, and publishes the
// counters kept since the last flush.
func (e *executor) flushAll() {
	for i := range e.ackBuf {
		e.flushAcks(i)
	}
	for _, dst := range e.dirty {
		e.sendBatch(dst)
	}
	e.dirty = e.dirty[:0]
	for _, so := range e.outs {
		if so.nEmitted > 0 {
			so.emitted.Add(float64(so.nEmitted))
			so.transferred.Add(float64(so.nTransferred))
			so.nEmitted, so.nTransferred = 0, 0
		}
	}
	if e.nAcked > 0 {
		e.tm.acked.Add(float64(e.nAcked))
		e.nAcked = 0
	}
	e.lastFlush = e.now
}

// sendEnd tells every downstream task that this task will send no more.
func (e *executor) sendEnd() {
	for _, dst := range e.downstream {
		if !e.send(dst, msg{kind: msgEnd, from: e.task}) {
			return
		}
	}
}

// reportError counts err and logs it.
func (e *executor) reportError(err error) {
	e.tm.errors.Inc()
	e.logLimited(slog.LevelWarn, "task error", "err", err)
}

// userPanic counts a recovered panic, logs it with its stack, and returns
// it as an error.
func (e *executor) userPanic(where string, r any) error {
	e.tm.panics.Inc()
	err := fmt.Errorf("runtime: panic in %s of %s task %d: %v", where, e.comp.ID, e.task, r)
	e.logLimited(slog.LevelError, "panic in user code", "where", where, "err", err, "stack", string(debug.Stack()))
	return err
}

// logLimited logs at most once a second per task, so a bolt failing every
// tuple cannot flood the log; the next line says how many were dropped.
// Metrics count every occurrence.
func (e *executor) logLimited(level slog.Level, msg string, args ...any) {
	now := time.Now()
	if now.Sub(e.errLog) < time.Second {
		e.errQuiet++
		return
	}
	if e.errQuiet > 0 {
		args = append(args, "suppressed", e.errQuiet)
	}
	e.log.Log(context.Background(), level, msg, args...)
	e.errLog, e.errQuiet = now, 0
}

// ctx is the context handed to user code: cancelled when the topology is killed.
func (e *executor) ctx() context.Context { return e.l.userCtx }
