package runtime

import (
	"math"
	"time"

	"github.com/gale-stream/gale/topology"
)

// endOfTime is topology.EndOfTime in Unix nanoseconds: the watermark of an
// input that has ended.
const endOfTime = math.MaxInt64

// noWatermark is the watermark before any has arrived.
const noWatermark = math.MinInt64

func watermarkInterval(et *topology.EventTime) time.Duration {
	if et.Interval > 0 {
		return et.Interval
	}
	return topology.DefaultWatermarkInterval
}

// carriesEventTime reports, for every component, whether watermarks flow out
// of it: it declares event time, or one of its inputs carries it.
func carriesEventTime(t *topology.Topology) map[topology.ComponentID]bool {
	out := map[topology.ComponentID]bool{}
	for _, c := range t.Components() { // sources come first
		carries := c.EventTime != nil
		for _, in := range c.Inputs {
			carries = carries || out[in.Source]
		}
		out[c.ID] = carries
	}
	return out
}

// observeEventTime notes the event time of a tuple the task emits, when its
// component declares event time.
func (e *executor) observeEventTime(so *streamOut, values topology.Values) {
	if ts, ok := e.comp.EventTime.TimeOf(so.fields, values); ok {
		if n := ts.UnixNano(); n > e.maxEvent {
			e.maxEvent = n
		}
	}
}

// emitWatermark sends the task's generated watermark downstream if it
// advanced, behind every tuple emitted before it.
func (e *executor) emitWatermark() {
	et := e.comp.EventTime
	if et == nil || e.maxEvent == noWatermark {
		return
	}
	e.sendWatermark(e.maxEvent - int64(et.OutOfOrderness))
}

func (e *executor) sendWatermark(wm int64) {
	if wm <= e.sentWM {
		return
	}
	e.sentWM = wm
	e.flushAll()
	for _, dst := range e.downstream {
		if !e.send(dst, msg{kind: msgWatermark, from: e.task, n: wm}) {
			return
		}
	}
}

// inputWatermark records watermark wm of upstream task from, and advances
// the task's own watermark to the minimum over its event-time inputs.
func (e *executor) inputWatermark(from topology.TaskID, wm int64) {
	old, ok := e.wmIn[from]
	if !ok || wm <= old {
		return // not an event-time input, or not an advance
	}
	e.wmIn[from] = wm
	low := int64(endOfTime)
	for _, w := range e.wmIn {
		low = min(low, w)
	}
	if low <= e.wm {
		return
	}
	e.wm = low
	if e.onWM != nil {
		e.callOnWatermark(low)
	}
	if e.comp.EventTime == nil {
		e.sendWatermark(low)
	}
}

func (e *executor) callOnWatermark(wm int64) {
	defer func() {
		if r := recover(); r != nil {
			e.failTopology(e.userPanic("OnWatermark", r))
		}
	}()
	t := time.Unix(0, wm)
	if wm == endOfTime {
		t = topology.EndOfTime
	}
	if err := e.onWM.OnWatermark(e.ctx(), t, e.boltOutput); err != nil {
		e.reportError(err)
	}
}
