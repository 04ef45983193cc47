package runtime

import (
	"time"

	"github.com/gale-stream/gale/topology"
)

// barrier handles barrier id from upstream task from. A task with several
// inputs aligns them: from the first barrier of a checkpoint on, it holds
// back what arrives from inputs that already delivered theirs, until every
// input has; then it snapshots and passes the barrier on. A barrier of a
// newer checkpoint abandons the alignment of an older one, whose checkpoint
// the coordinator has given up on.
func (e *executor) barrier(from topology.TaskID, id uint64) {
	switch {
	case e.aligning == 0 || id > e.aligning:
		if e.aligning != 0 {
			e.releaseHeldMsgs()
		}
		e.aligning = id
		e.alignStart = time.Now()
		clear(e.barrierFrom)
	case id < e.aligning:
		return // a barrier of an abandoned checkpoint
	}
	e.barrierFrom[from] = true
	e.checkAligned()
}

// checkAligned completes the alignment when every input that has not ended
// has delivered the barrier.
func (e *executor) checkAligned() {
	if e.aligning == 0 {
		return
	}
	n := len(e.barrierFrom)
	for t := range e.endedFrom {
		if !e.barrierFrom[t] {
			n++
		}
	}
	if n < e.upstream {
		return
	}
	id := e.aligning
	e.l.coord.m.alignment.WithLabelValues(string(e.comp.ID), e.taskLabel()).Observe(time.Since(e.alignStart).Seconds())
	e.flushAll()
	e.snapshotTask(id)
	for _, dst := range e.downstream {
		if !e.send(dst, msg{kind: msgBarrier, from: e.task, n: int64(id)}) {
			return
		}
	}
	e.aligning = 0
	e.releaseHeldMsgs()
}

// releaseHeldMsgs puts the held messages in front of the backlog, in order.
func (e *executor) releaseHeldMsgs() {
	if len(e.heldMsgs) == 0 {
		clear(e.barrierFrom)
		return
	}
	e.backlog = append(e.heldMsgs, e.backlog...)
	e.heldMsgs = nil
	clear(e.barrierFrom)
}
