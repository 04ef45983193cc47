package topology

import (
	"context"
	"time"
)

// EventTime says where a component's output tuples carry their event time,
// so that the runtime can generate watermarks for them (see
// [SpoutDeclarer.EventTime] and [BoltDeclarer.EventTime]).
//
// A task of such a component tracks the largest event time it has emitted
// and, every Interval, sends the watermark (that time minus OutOfOrderness)
// to every downstream task, in order with its tuples. A bolt task's
// watermark is the minimum over its upstream tasks that carry event time;
// when it advances, the runtime calls the bolt's OnWatermark (see
// [WatermarkHandler]) and passes it downstream. When every upstream task has
// ended, the watermark jumps to the end of time, so event-time windows fire.
type EventTime struct {
	// Field names the output field holding the event time: a time.Time, or
	// an integer of milliseconds since the Unix epoch.
	Field string
	// Extract reads the event time from a tuple's values, instead of Field.
	// It reports false for a tuple without one. It is called on the
	// emitting task's goroutine.
	Extract func(values Values) (time.Time, bool)
	// OutOfOrderness is how far behind the largest event time seen a later
	// tuple may be and still not count as late.
	OutOfOrderness time.Duration
	// Interval is how often watermarks are sent. Default: 200ms.
	Interval time.Duration
}

// DefaultWatermarkInterval is the default of [EventTime.Interval].
const DefaultWatermarkInterval = 200 * time.Millisecond

// WatermarkHandler is implemented by bolts that act on event time, such as
// windows. OnWatermark is called on the task's goroutine, between tuples,
// whenever the task's watermark advances: no tuple with an earlier event time
// is expected any more (tuples later than that are late). Emits through out
// are unanchored unless the bolt anchors them itself.
type WatermarkHandler interface {
	OnWatermark(ctx context.Context, watermark time.Time, out Emitter) error
}

// EndOfTime is the watermark that follows the end of every input.
var EndOfTime = time.Unix(0, 1<<63-1)

// EventTime declares where the spout's tuples carry their event time.
func (d *SpoutDeclarer) EventTime(et EventTime) *SpoutDeclarer {
	d.c.EventTime = &et
	return d
}

// EventTime declares where the bolt's output tuples carry their event time;
// the bolt then sends watermarks of its own instead of passing on those of
// its inputs.
func (d *BoltDeclarer) EventTime(et EventTime) *BoltDeclarer {
	d.c.EventTime = &et
	return d
}

// TimeOf reads the event time of values under et, given the stream's fields.
func (et *EventTime) TimeOf(fields Fields, values Values) (time.Time, bool) {
	if et.Extract != nil {
		return et.Extract(values)
	}
	i := fields.Index(et.Field)
	if i < 0 || i >= len(values) {
		return time.Time{}, false
	}
	switch v := values[i].(type) {
	case time.Time:
		return v, true
	default:
		if ms, ok := ToInt64(v); ok {
			return time.UnixMilli(ms), true
		}
	}
	return time.Time{}, false
}
