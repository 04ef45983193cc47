package runtime

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/gale-stream/gale/internal/keygroup"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/topology"
)

// boltState is the part of an executor only bolt tasks use.
type boltState struct {
	// upstream is the number of tasks that send to this one; the task stops
	// when each has sent its end marker and the queue is drained.
	upstream  int
	ended     int
	endedFrom map[topology.TaskID]bool

	// Barrier alignment (ExactlyOnce): the checkpoint being aligned, the
	// inputs whose barrier arrived, the messages held back from them, and
	// the held messages released to be processed before the queue.
	aligning    uint64
	alignStart  time.Time
	barrierFrom map[topology.TaskID]bool
	heldMsgs    []msg
	backlog     []msg

	// Watermarks: the last watermark of each upstream task that carries
	// event time, and the task's own (their minimum).
	wmIn  map[topology.TaskID]int64
	wm    int64
	onWM  topology.WatermarkHandler
	keyed map[*topology.Origin][]int // key field positions of fields-grouped inputs

	// executed counters by input, resolved on first use.
	executed   map[*topology.Origin]prometheus.Counter
	sampleN    int
	anchors1   [1]topology.Tuple // scratch for EmitAnchored
	lastInput  *topology.Origin
	lastExec   prometheus.Counter
	boltOutput boltOut
}

// boltOut is the Emitter of a bolt task.
type boltOut struct{ e *executor }

func (o boltOut) Emit(values topology.Values, anchors ...topology.Tuple) {
	o.e.boltEmit(topology.DefaultStream, values, anchors, 0, false)
}

func (o boltOut) EmitStream(stream topology.StreamID, values topology.Values, anchors ...topology.Tuple) {
	o.e.boltEmit(stream, values, anchors, 0, false)
}

func (o boltOut) EmitDirect(task topology.TaskID, stream topology.StreamID, values topology.Values, anchors ...topology.Tuple) {
	o.e.boltEmit(stream, values, anchors, task, true)
}

func (o boltOut) Ack(t topology.Tuple)  { o.e.ack(t) }
func (o boltOut) Fail(t topology.Tuple) { o.e.fail(t) }
func (o boltOut) ReportError(err error) { o.e.reportError(err) }

func (e *executor) boltEmit(stream topology.StreamID, values topology.Values, anchors []topology.Tuple, direct topology.TaskID, isDirect bool) {
	so := e.stream(stream)
	if so == nil {
		return
	}
	targets, ok := e.targets(so, values, direct, isDirect)
	if !ok || len(targets) == 0 {
		return
	}
	e.emitTo(so, targets, values, "", false, anchors)
}

// emitString emits a tuple of one string on stream, anchored to anchor
// (none when nil), without boxing s when the stream's routes need no
// values (see topology.AnchoredStringEmitter).
func (e *executor) emitString(stream topology.StreamID, s string, anchor topology.Tuple) {
	var anchors []topology.Tuple
	if anchor != nil && e.tracking { // untracked emits ignore anchors
		e.anchors1[0] = anchor
		anchors = e.anchors1[:]
	}
	so := e.stream(stream)
	switch {
	case so == nil:
	case !e.takesString(so):
		e.boltEmit(stream, topology.Values{s}, anchors, 0, false)
	default:
		dst := e.tbuf[:0]
		for _, r := range so.routes {
			dst = r.chooseString(s, dst)
		}
		e.tbuf = dst
		so.nEmitted++
		so.nTransferred += int64(len(dst))
		if len(dst) > 0 {
			e.emitTo(so, dst, nil, s, true, anchors)
		}
	}
	if anchors != nil {
		e.anchors1[0] = nil
	}
}

// takesString reports whether tuples of so can be emitted as unboxed
// strings: a stream of one field, not direct, whose routes need no values,
// from a component that reads no event time from what it emits.
func (e *executor) takesString(so *streamOut) bool {
	if so.strMode == 0 {
		so.strMode = -1
		if len(so.fields) == 1 && !so.direct && e.comp.EventTime == nil &&
			!slices.ContainsFunc(so.routes, func(r *route) bool { return !r.takesString() }) {
			so.strMode = 1
		}
	}
	return so.strMode > 0
}

// emitTo sends a new tuple of stream so to each of targets, anchored to
// anchors. The tuple holds values, or the unboxed string s when isStr.
func (e *executor) emitTo(so *streamOut, targets []topology.TaskID, values topology.Values, s string, isStr bool, anchors []topology.Tuple) {
	tracked := false
	if e.tracking {
		for _, a := range anchors {
			if at, ok := a.(*tuple); ok && at.tracked {
				if at.done {
					e.reportError(fmt.Errorf("runtime: %s anchored a tuple on stream %s to an input it already acked or failed", e.comp.ID, so.id))
					continue
				}
				tracked = true
			}
		}
	}
	if !tracked {
		own := len(targets) == 1
		if isStr && !own {
			// A shared tuple is read by several tasks: box the string now.
			values, isStr = topology.Values{s}, false
		}
		t := e.newTuple(so, values, own)
		if isStr {
			t.setStr(s)
		}
		for _, dst := range targets {
			e.enqueue(dst, t)
		}
		return
	}
	for _, dst := range targets {
		t := e.newTuple(so, values, true)
		if isStr {
			t.setStr(s)
		}
		for _, a := range anchors {
			at, ok := a.(*tuple)
			if !ok || !at.tracked || at.done {
				continue
			}
			// One new edge per anchor, shared by all its trees (as Storm).
			id := e.newID()
			at.ackVal ^= id
			for _, ed := range at.edges {
				t.addEdge(ed.root, id)
			}
		}
		e.enqueue(dst, t)
	}
}

// addEdge XORs id into the tuple's edge for root, adding one if needed.
func (t *tuple) addEdge(root, id uint64) {
	for i := range t.edges {
		if t.edges[i].root == root {
			t.edges[i].id ^= id
			return
		}
	}
	if t.edges == nil {
		t.edges = t.edge0[:0]
	}
	t.edges = append(t.edges, edge{root: root, id: id})
	t.tracked = true
}

// ack acks t. Only tuples with one receiver and tracked ones (which always
// have one) carry a done flag: an untracked tuple sent to several tasks is
// one shared object, so its flag would be written by several goroutines;
// acking it twice has no effect anyway.
func (e *executor) ack(t topology.Tuple) {
	rt, ok := t.(*tuple)
	if !ok {
		return
	}
	if !rt.own && !rt.tracked {
		e.nAcked++
		return
	}
	if rt.done {
		return
	}
	rt.done = true
	e.nAcked++
	if rt.tracked {
		for _, ed := range rt.edges {
			e.sendAck(ackMsg{op: opAck, root: ed.root, val: ed.id ^ rt.ackVal})
		}
	}
	if rt.own && uintptr(unsafe.Pointer(rt)) != e.cur {
		e.recycle(rt)
	}
}

func (e *executor) fail(t topology.Tuple) {
	rt, ok := t.(*tuple)
	if !ok {
		return
	}
	keepsDone := rt.own || rt.tracked
	if keepsDone {
		if rt.done {
			return
		}
		rt.done = true
	}
	e.tm.failed.Inc()
	if e.l.cfg.Guarantee == topology.ExactlyOnce {
		// No tuple is replayed alone under exactly-once: the topology
		// restarts from its last complete checkpoint.
		e.failTopology(fmt.Errorf("runtime: %s task %d failed a tuple from %s/%s", e.comp.ID, e.task, rt.Origin.Component, rt.Origin.Stream))
	} else {
		for _, ed := range rt.edges {
			e.sendAck(ackMsg{op: opFail, root: ed.root})
		}
	}
	if rt.own && uintptr(unsafe.Pointer(rt)) != e.cur {
		e.recycle(rt)
	}
}

// runBolt is the bolt task's goroutine.
func (e *executor) runBolt() {
	defer e.cleanupBolt()
	var tick, wmTick <-chan time.Time
	if e.comp.Tick > 0 {
		tk := time.NewTicker(e.comp.Tick)
		defer tk.Stop()
		tick = tk.C
	}
	if et := e.comp.EventTime; et != nil {
		tk := time.NewTicker(watermarkInterval(et))
		defer tk.Stop()
		wmTick = tk.C
	}
	e.boltOutput = boltOut{e}
	e.now = time.Now()
	e.lastFlush = e.now
	for e.ended < e.upstream {
		var m msg
		if len(e.backlog) > 0 {
			m = e.backlog[0]
			e.backlog[0] = msg{}
			e.backlog = e.backlog[1:]
		} else {
			select {
			case m = <-e.in.data:
			default:
				// Idle: hand over what is buffered before blocking.
				e.flushAll()
				select {
				case m = <-e.in.data:
				case <-e.in.ctrl.signal:
					e.boltCtrl()
					continue
				case <-tick:
					e.tick()
					continue
				case <-wmTick:
					e.emitWatermark()
					continue
				case <-e.l.kill:
					return
				}
			}
		}
		e.dispatch(m)
		select {
		case <-tick:
			e.tick()
		case <-e.in.ctrl.signal:
			e.boltCtrl()
		case <-wmTick:
			e.emitWatermark()
		default:
		}
		if e.now.Sub(e.lastFlush) >= e.l.cfg.FlushInterval {
			e.flushAll()
		}
	}
}

// dispatch handles one message from the data queue (or the backlog).
func (e *executor) dispatch(m msg) {
	if e.aligning != 0 && e.barrierFrom[m.from] {
		// This input already delivered the barrier being aligned: what
		// follows it belongs to the next checkpoint.
		e.heldMsgs = append(e.heldMsgs, m)
		return
	}
	switch m.kind {
	case msgTuples:
		e.executeBatch(m.tuples)
	case msgEnd:
		e.ended++
		e.endedFrom[m.from] = true
		e.inputWatermark(m.from, endOfTime)
		e.checkAligned()
	case msgBarrier:
		e.barrier(m.from, uint64(m.n))
	case msgWatermark:
		e.inputWatermark(m.from, m.n)
	}
}

// boltCtrl applies the control messages that arrived at a bolt task.
func (e *executor) boltCtrl() {
	for _, c := range e.in.ctrl.popAll() {
		if c.kind == ctrlCheckpointDone {
			e.checkpointDone(c.id)
		}
	}
}

// executeBatch executes a batch of tuples. The latency histogram gets one
// tuple per batch, at a position that rotates from batch to batch: reading
// the clock costs about as much as a simple bolt's whole Execute, so timing
// every tuple would halve the throughput of light bolts. A task under load
// gets full batches, and one sample in BatchSize tuples; an idle one gets
// batches of a tuple or two, and about every tuple timed. The executed
// counters stay exact; the histogram's _count is the number of batches.
func (e *executor) executeBatch(ts []*tuple) {
	if len(ts) == 0 {
		return
	}
	e.in.depth.Add(-int64(len(ts)))
	e.tm.queueDepth.Set(float64(e.in.depth.Load()))
	e.prefetch(ts)
	e.sampleN++
	b := batchRun{ts: ts, timed: e.sampleN % len(ts), start: time.Now()}
	for b.i < len(ts) {
		e.runBatch(&b)
	}
	if b.run > 0 {
		e.lastExec.Add(float64(b.run))
	}
	clear(ts[b.k:])
	putChunk(ts[:b.k])
	busy := time.Since(b.start)
	e.now = b.start.Add(busy)
	e.tm.busy.Add(busy.Seconds())
}

// batchRun is the progress of executeBatch through a batch.
type batchRun struct {
	ts    []*tuple
	i     int // the tuple being executed
	k     int // tuples recycled into ts[:k]
	run   int // tuples of the current input not yet counted
	timed int // the tuple timed for the latency histogram
	start time.Time
}

// runBatch executes b.ts from b.i on. When an Execute panics, it fails that
// tuple and returns, and executeBatch calls it again for the rest: one
// deferred recover per batch rather than one per tuple.
func (e *executor) runBatch(b *batchRun) {
	defer func() {
		if r := recover(); r != nil {
			t := b.ts[b.i]
			e.reportError(e.userPanic("Execute", r))
			e.fail(t)
			e.afterExecute(b, t)
			b.i++
		}
	}()
	for ; b.i < len(b.ts); b.i++ {
		t := b.ts[b.i]
		if t.Origin != e.lastInput || e.lastExec == nil {
			if b.run > 0 {
				e.lastExec.Add(float64(b.run))
				b.run = 0
			}
			e.countInput(t.Origin)
		}
		b.run++
		e.cur = uintptr(unsafe.Pointer(t))
		if e.backend != nil && e.keyed != nil {
			e.setKey(t)
		}
		if b.i != b.timed {
			e.callExecute(t)
		} else {
			t0 := time.Since(b.start)
			e.callExecute(t)
			e.tm.execLatency.Observe((time.Since(b.start) - t0).Seconds())
		}
		e.afterExecute(b, t)
	}
}

// afterExecute follows the Execute of b.ts[b.i]: a tuple acked or failed
// during its Execute is recycled into the batch's own slice (k <= i); the
// others are when they are acked.
func (e *executor) afterExecute(b *batchRun, t *tuple) {
	e.cur = 0
	if t.own && t.done {
		t.release()
		if b.k != b.i {
			b.ts[b.k] = t
		}
		b.k++
	}
}

// prefetch reads the first cache line of every tuple of a batch, and the
// first byte of its first value when that is a string (or, for a tuple from
// another worker, of its encoded values), before the batch executes. The
// tuples were written on another core: read one at a time, as Execute gets
// to them, each costs a full cache miss in turn, which in a word count is
// more than the rest of the work of the tuple. Read in a tight loop, the
// misses overlap (the core keeps many loads in flight), so the batch pays
// about one. It only reads, so shared tuples, which other tasks read at the
// same time, are no exception.
func (e *executor) prefetch(ts []*tuple) {
	var sum uintptr
	for _, t := range ts {
		sum += uintptr(unsafe.Pointer(t.Origin)) + uintptr(t.strLen)
	}
	for _, t := range ts {
		switch t.kind {
		case lazyStr:
			if t.strLen > 0 {
				sum += uintptr(*(*byte)(t.lazy))
			}
		case lazyRaw:
			if enc := t.raw().Encoded(); len(enc) > 0 {
				sum += uintptr(enc[0])
			}
		default:
			if len(t.Vals) > 0 {
				// A boxed string first value: the box, the header, the bytes.
				if s, ok := t.Vals[0].(string); ok && len(s) > 0 {
					sum += uintptr(s[0])
				}
			}
		}
	}
	e.touched = sum // keeps the loads
}

// countInput points lastExec at the executed counter of tuples of origin o.
func (e *executor) countInput(o *topology.Origin) {
	c := e.executed[o]
	if c == nil {
		c = e.l.m.executed.WithLabelValues(string(e.comp.ID), e.taskLabel(), string(o.Component), string(o.Stream))
		e.executed[o] = c
	}
	e.lastInput, e.lastExec = o, c
}

// tickOrigin is the origin of tick tuples.
var tickOrigin = &topology.Origin{Component: topology.SystemComponent, Stream: topology.TickStream}

// execute executes one tuple outside a batch (a tick).
func (e *executor) execute(t *tuple) {
	if e.backend != nil && e.keyed != nil {
		e.setKey(t)
	}
	defer func() {
		if r := recover(); r != nil {
			e.reportError(e.userPanic("Execute", r))
			e.fail(t)
		}
	}()
	e.callExecute(t)
}

// callExecute calls the bolt's Execute and fails t when it returns an error.
func (e *executor) callExecute(t *tuple) {
	if err := e.bolt.Execute(e.ctx(), t, e.boltOutput); err != nil {
		e.reportError(err)
		e.fail(t)
	}
}

func (e *executor) tick() {
	t := &tuple{TupleData: topology.TupleData{Origin: tickOrigin, SourceTaskID: -1}}
	e.now = time.Now()
	e.countInput(t.Origin)
	e.lastExec.Inc()
	e.execute(t)
}

func (e *executor) cleanupBolt() {
	e.flushAll()
	e.sendEnd()
	defer func() {
		if r := recover(); r != nil {
			e.reportError(e.userPanic("Cleanup", r))
		}
	}()
	if err := e.bolt.Cleanup(); err != nil {
		e.log.Warn("bolt cleanup", "err", err)
	}
}

// EmitAnchored implements topology.SingleAnchorEmitter, so basic bolts
// anchor without allocating.
func (o boltOut) EmitAnchored(stream topology.StreamID, values topology.Values, anchor topology.Tuple) {
	o.e.anchors1[0] = anchor
	o.e.boltEmit(stream, values, o.e.anchors1[:], 0, false)
	o.e.anchors1[0] = nil
}

// EmitStringAnchored implements topology.AnchoredStringEmitter.
func (o boltOut) EmitStringAnchored(stream topology.StreamID, s string, anchor topology.Tuple) {
	o.e.emitString(stream, s, anchor)
}

// setKey binds the task's keyed state to the key of t, when t came through
// a fields grouping: the same fields, encoded the same way, that routed it
// here, so a key's tuples and its state always meet in this task.
func (e *executor) setKey(t *tuple) {
	idx, ok := e.keyed[t.Origin]
	if !ok {
		return
	}
	e.keyBuf = appendTupleKey(e.keyBuf[:0], t, idx)
	if err := e.backend.SetCurrentKey(e.keyBuf); err != nil {
		e.reportError(err)
	}
}

// appendTupleKey appends the key of the values of t at idx, encoded as
// keygroup.AppendKey encodes them when the fields grouping routes t.
func appendTupleKey(dst []byte, t *tuple, idx []int) []byte {
	for _, i := range idx {
		switch t.kind {
		case lazyStr:
			if i == 0 {
				dst = appendKeyString(dst, t.str())
			}
			continue
		case lazyRaw:
			if i >= t.raw().Len() {
				continue
			}
			// A string key (the usual one) is read in place; a string
			// and a []byte with equal content are one key, and StringAt
			// takes both. Other keys need the values boxed.
			if s, err := t.raw().StringAt(i); err == nil {
				dst = appendKeyString(dst, s)
				continue
			}
			t.data()
		}
		if i < len(t.Vals) {
			dst = keygroup.AppendKey(dst, t.Vals[i])
		}
	}
	return dst
}
