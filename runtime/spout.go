package runtime

import (
	"time"

	"github.com/gale-stream/gale/topology"
)

// pendingRoot is a tracked spout tuple in flight.
type pendingRoot struct {
	msgID any
	start time.Time
}

// deadline is when a root times out. Roots are emitted in time order, so
// their deadlines form a queue.
type deadline struct {
	root uint64
	at   time.Time
}

// spoutState is the part of an executor only spout tasks use.
type spoutState struct {
	pending    map[uint64]pendingRoot
	deadlines  []deadline
	maxPending int
	timeout    time.Duration
	// emittedNow counts the tuples emitted during the current Next call.
	emittedNow int
	// autoAcks are message ids to ack at once: a topology without tracking
	// acks every message id as it is emitted, as Storm does without ackers.
	autoAcks []any
	active   bool
	// held are tracked emits a Next call made past max pending. They are
	// sent as trees complete, before Next is called again, so the trees in
	// flight never exceed the bound, and the spout still need not know it.
	held []heldEmit
	// maxSeen is the most trees this task had in flight (for tests).
	maxSeen  int
	draining bool
}

type heldEmit struct {
	so      *streamOut
	values  topology.Values
	msgID   any
	targets []topology.TaskID
}

// spoutOut is the SpoutEmitter of a spout task.
type spoutOut struct{ e *executor }

func (o spoutOut) Emit(values topology.Values, msgID any) {
	o.e.spoutEmit(topology.DefaultStream, values, msgID, 0, false)
}

func (o spoutOut) EmitStream(stream topology.StreamID, values topology.Values, msgID any) {
	o.e.spoutEmit(stream, values, msgID, 0, false)
}

func (o spoutOut) EmitDirect(task topology.TaskID, stream topology.StreamID, values topology.Values, msgID any) {
	o.e.spoutEmit(stream, values, msgID, task, true)
}

func (o spoutOut) ReportError(err error) { o.e.reportError(err) }

func (e *executor) spoutEmit(stream topology.StreamID, values topology.Values, msgID any, direct topology.TaskID, isDirect bool) {
	so := e.stream(stream)
	if so == nil {
		return
	}
	targets, ok := e.targets(so, values, direct, isDirect)
	if !ok {
		return
	}
	e.emittedNow++
	if msgID == nil || !e.tracking {
		if msgID != nil && e.l.cfg.Guarantee == topology.AtMostOnce {
			e.autoAcks = append(e.autoAcks, msgID)
		}
		if len(targets) == 0 {
			return
		}
		t := e.newTuple(so, values, len(targets) == 1)
		for _, dst := range targets {
			e.enqueue(dst, t)
		}
		return
	}
	if len(targets) == 0 {
		// Nothing subscribes: the tree is complete as soon as it starts.
		e.autoAcks = append(e.autoAcks, msgID)
		return
	}
	if len(e.pending) >= e.maxPending {
		e.held = append(e.held, heldEmit{so: so, values: values, msgID: msgID, targets: append([]topology.TaskID(nil), targets...)})
		return
	}
	e.startTree(so, values, msgID, targets)
}

// startTree sends a tracked spout tuple to targets and tells its acker.
func (e *executor) startTree(so *streamOut, values topology.Values, msgID any, targets []topology.TaskID) {
	root := e.localRoot()
	var sum uint64
	for _, dst := range targets {
		t := e.newTuple(so, values, true)
		id := e.newID()
		t.edge0[0] = edge{root: root, id: id}
		t.edges, t.tracked = t.edge0[:], true
		sum ^= id
		e.enqueue(dst, t)
	}
	e.pending[root] = pendingRoot{msgID: msgID, start: e.now}
	e.deadlines = append(e.deadlines, deadline{root: root, at: e.now.Add(e.timeout)})
	e.sendAck(ackMsg{op: opInit, root: root, val: sum, spout: e.task})
	e.maxSeen = max(e.maxSeen, len(e.pending))
}

// releaseHeld sends held emits while there is room, and reports whether
// none are left.
func (e *executor) releaseHeld() bool {
	n := 0
	for n < len(e.held) && len(e.pending) < e.maxPending {
		h := e.held[n]
		e.held[n] = heldEmit{}
		e.startTree(h.so, h.values, h.msgID, h.targets)
		n++
	}
	e.held = append(e.held[:0], e.held[n:]...)
	return len(e.held) == 0
}

// runSpout is the spout task's goroutine.
func (e *executor) runSpout() {
	defer e.closeSpout()
	out := spoutOut{e}
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	e.now = time.Now()
	e.lastFlush = e.now
	for {
		e.takeCtrl()
		e.now = time.Now()
		e.expire()
		select {
		case <-e.l.kill:
			return
		case <-e.l.stopSpouts:
			e.drainSpout(idle)
			return
		default:
		}
		if e.releaseHeld() && e.active && (!e.tracking || len(e.pending) < e.maxPending) {
			e.emittedNow = 0
			e.callNext(out)
			e.takeAutoAcks()
			e.tm.pending.Set(float64(len(e.pending)))
			if et := e.comp.EventTime; et != nil && e.now.Sub(e.lastWM) >= watermarkInterval(et) {
				e.emitWatermark()
				e.lastWM = e.now
			}
			if e.emittedNow > 0 {
				if e.now.Sub(e.lastFlush) >= e.l.cfg.FlushInterval {
					e.flushAll()
				}
				continue
			}
			// Nothing to emit: hand over what is buffered, then back off
			// briefly, as Storm's spout wait strategy does.
			e.flushAll()
			e.wait(idle, time.Millisecond)
			continue
		}
		// At max pending (or inactive): wait for trees to complete.
		e.flushAll()
		e.wait(idle, e.nextExpiry())
	}
}

// wait blocks until a tree outcome arrives, d passes, or the topology
// stops (once stopping, only a kill ends the wait early).
func (e *executor) wait(t *time.Timer, d time.Duration) {
	t.Reset(d)
	stop := e.l.stopSpouts
	if e.draining {
		stop = nil
	}
	select {
	case <-e.in.ctrl.signal:
	case <-t.C:
	case <-stop:
	case <-e.l.kill:
	}
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
}

// nextExpiry is how long until the oldest pending root times out, capped so
// the task still looks at its queue now and then.
func (e *executor) nextExpiry() time.Duration {
	d := 100 * time.Millisecond
	if len(e.deadlines) > 0 {
		if until := e.deadlines[0].at.Sub(e.now); until < d {
			d = max(until, time.Millisecond)
		}
	}
	return d
}

func (e *executor) callNext(out spoutOut) {
	defer func() {
		if r := recover(); r != nil {
			e.reportError(e.userPanic("Next", r))
		}
	}()
	if err := e.spout.Next(e.ctx(), out); err != nil {
		e.reportError(err)
	}
}

// takeCtrl applies the control messages that arrived: tree outcomes from
// the ackers, checkpoint triggers and completions.
func (e *executor) takeCtrl() {
	for _, d := range e.in.ctrl.popAll() {
		switch d.kind {
		case ctrlCheckpoint:
			e.spoutCheckpoint(d.id)
			continue
		case ctrlCheckpointDone:
			e.checkpointDone(d.id)
			continue
		}
		p, ok := e.pending[d.root]
		if !ok {
			continue // timed out already
		}
		delete(e.pending, d.root)
		if d.ok {
			e.tm.spoutAcked.Inc()
			e.tm.complete.Observe(time.Since(p.start).Seconds())
			e.callAck(p.msgID)
		} else {
			e.tm.spoutFailed.Inc()
			e.callFail(p.msgID)
		}
	}
}

func (e *executor) takeAutoAcks() {
	for i, id := range e.autoAcks {
		e.callAck(id)
		e.autoAcks[i] = nil
	}
	e.autoAcks = e.autoAcks[:0]
}

// expire fails the roots whose message timeout passed.
func (e *executor) expire() {
	n := 0
	for n < len(e.deadlines) && !e.deadlines[n].at.After(e.now) {
		d := e.deadlines[n]
		n++
		p, ok := e.pending[d.root]
		if !ok {
			continue // completed in time
		}
		delete(e.pending, d.root)
		e.tm.timedOut.Inc()
		e.tm.spoutFailed.Inc()
		e.callFail(p.msgID)
	}
	if n > 0 {
		e.deadlines = append(e.deadlines[:0], e.deadlines[n:]...)
	}
	// Keep the deadline queue from growing with completed roots.
	if len(e.deadlines) > 4*e.maxPending+64 {
		live := e.deadlines[:0]
		for _, d := range e.deadlines {
			if _, ok := e.pending[d.root]; ok {
				live = append(live, d)
			}
		}
		e.deadlines = live
	}
}

func (e *executor) callAck(id any) {
	defer func() {
		if r := recover(); r != nil {
			e.reportError(e.userPanic("Ack", r))
		}
	}()
	e.spout.Ack(id)
}

func (e *executor) callFail(id any) {
	defer func() {
		if r := recover(); r != nil {
			e.reportError(e.userPanic("Fail", r))
		}
	}()
	e.spout.Fail(id)
}

// drainSpout runs after the spout stopped emitting: it waits for the trees
// in flight to complete, fail or time out, until the topology is killed.
func (e *executor) drainSpout(idle *time.Timer) {
	e.draining = true
	if a, ok := e.spout.(topology.Activator); ok && e.active {
		e.active = false
		a.Deactivate()
	}
	e.flushAll()
	for len(e.pending) > 0 || len(e.held) > 0 {
		e.releaseHeld()
		e.flushAll()
		select {
		case <-e.l.kill:
			e.log.Warn("stopping with tuple trees in flight", "pending", len(e.pending))
			return
		default:
		}
		e.wait(idle, e.nextExpiry())
		e.takeCtrl()
		e.now = time.Now()
		e.expire()
		e.tm.pending.Set(float64(len(e.pending)))
	}
}

func (e *executor) closeSpout() {
	e.flushAll()
	e.sendEnd()
	defer func() {
		if r := recover(); r != nil {
			e.reportError(e.userPanic("Close", r))
		}
	}()
	if err := e.spout.Close(); err != nil {
		e.log.Warn("spout close", "err", err)
	}
}

// localRoot returns a new root id whose acker (root mod the number of
// ackers) runs in this process.
func (e *executor) localRoot() uint64 {
	n := uint64(len(e.ackBuf))
	local := e.l.localAckers
	for {
		r := e.newID()
		if len(local) == int(n) {
			return r
		}
		r = r - r%n + uint64(local[r%uint64(len(local))])
		if r != 0 {
			return r
		}
	}
}
