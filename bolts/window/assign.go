package window

import (
	"fmt"
	"math"
	"time"
)

// Window is one window's extent, half-open: [Start, End). For time windows
// both are milliseconds since the Unix epoch (event time or processing time);
// for count windows they are the per-key sequence numbers of the first tuple
// in the window and of the one after the last (the first tuple of a key is
// number 0).
type Window struct {
	Start, End int64
}

// Contains reports whether ts falls in w.
func (w Window) Contains(ts int64) bool { return ts >= w.Start && ts < w.End }

// overlaps reports whether w and o share an instant. Windows that only touch
// ([0,5) and [5,10)) do not overlap, so two tuples exactly one session gap
// apart start two sessions.
func (w Window) overlaps(o Window) bool { return w.Start < o.End && o.Start < w.End }

func (w Window) String() string { return fmt.Sprintf("[%d,%d)", w.Start, w.End) }

type assignerKind uint8

const (
	kindNone assignerKind = iota
	kindTumbling
	kindSliding
	kindSession
	kindCount
	kindGiven
)

// Assigner decides which windows a tuple belongs to. Make one with
// [Tumbling], [Sliding], [Session], [TumblingCount], [SlidingCount] or
// [Given]; the zero value is invalid.
type Assigner struct {
	kind        assignerKind
	size, slide int64 // milliseconds for time windows, tuples for count windows
	gap         int64 // milliseconds, sessions only
	// durations as given, for validation messages
	dSize, dSlide time.Duration
	startField    string
	endField      string
}

// Tumbling assigns each tuple to the one window of length size that holds
// its time; windows are aligned to the Unix epoch: [k·size, (k+1)·size).
// size is rounded down to whole milliseconds and must be at least 1ms.
func Tumbling(size time.Duration) Assigner {
	return Assigner{kind: kindTumbling, size: size.Milliseconds(), slide: size.Milliseconds(), dSize: size, dSlide: size}
}

// Sliding assigns each tuple to the size/slide windows of length size,
// starting every slide (aligned to the epoch), that hold its time. slide must
// not exceed size; size and slide are whole milliseconds.
func Sliding(size, slide time.Duration) Assigner {
	return Assigner{kind: kindSliding, size: size.Milliseconds(), slide: slide.Milliseconds(), dSize: size, dSlide: slide}
}

// Session groups the tuples of a key into sessions: a tuple at time t opens
// the window [t, t+gap), and windows of one key that overlap merge into one.
// A session therefore ends gap after its last tuple, and a pause of at least
// gap between two tuples of a key separates two sessions.
func Session(gap time.Duration) Assigner {
	return Assigner{kind: kindSession, gap: gap.Milliseconds(), dSize: gap}
}

// TumblingCount makes windows of n consecutive tuples per key: tuples
// 0..n-1 of a key, then n..2n-1, and so on. A window fires when its n-th
// tuple arrives; count windows use neither time nor watermarks.
func TumblingCount(n int) Assigner {
	return Assigner{kind: kindCount, size: int64(n), slide: int64(n)}
}

// SlidingCount fires every slide tuples of a key with the last size of them
// (fewer for the first windows of a key): window j holds the tuples numbered
// [(j+1)·slide − size, (j+1)·slide), clipped at 0, and fires when tuple
// (j+1)·slide − 1 arrives.
func SlidingCount(size, slide int) Assigner {
	return Assigner{kind: kindCount, size: int64(size), slide: int64(slide)}
}

// Given takes each tuple's window from two of its fields, holding the
// window's start and end as time.Time or integer milliseconds; the tuple's
// event time is end − 1ms. It suits a bolt downstream of another window
// bolt, which emits its results with [StartField] and [EndField] — as
// [TopN] does.
func Given(startField, endField string) Assigner {
	return Assigner{kind: kindGiven, startField: startField, endField: endField}
}

// timeBased reports whether the assigner's windows are measured in time.
func (a Assigner) timeBased() bool { return a.kind != kindCount && a.kind != kindNone }

func (a Assigner) validate() []string {
	var probs []string
	switch a.kind {
	case kindNone:
		probs = append(probs, "no window assigner (use Tumbling, Sliding, Session, TumblingCount, SlidingCount or Given)")
	case kindTumbling:
		if a.size < 1 {
			probs = append(probs, fmt.Sprintf("tumbling window size %s is below 1ms", a.dSize))
		}
	case kindSliding:
		if a.size < 1 || a.slide < 1 {
			probs = append(probs, fmt.Sprintf("sliding window size %s and slide %s must be at least 1ms", a.dSize, a.dSlide))
		} else if a.slide > a.size {
			probs = append(probs, fmt.Sprintf("sliding window slide %s exceeds its size %s", a.dSlide, a.dSize))
		}
	case kindSession:
		if a.gap < 1 {
			probs = append(probs, fmt.Sprintf("session gap %s is below 1ms", a.dSize))
		}
	case kindCount:
		if a.size < 1 || a.slide < 1 {
			probs = append(probs, fmt.Sprintf("count window size %d and slide %d must be at least 1", a.size, a.slide))
		} else if a.slide > a.size {
			probs = append(probs, fmt.Sprintf("count window slide %d exceeds its size %d", a.slide, a.size))
		}
	case kindGiven:
		if a.startField == "" || a.endField == "" {
			probs = append(probs, "given windows need a start and an end field")
		}
	}
	return probs
}

// floorDiv is a/b rounded towards negative infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// satAdd is a+b for b ≥ 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// timeWindows appends to dst the windows of a tumbling or sliding assigner
// that hold ts, latest start first; for a session assigner, the tuple's own
// window [ts, ts+gap), which the caller merges.
func (a Assigner) timeWindows(ts int64, dst []Window) []Window {
	switch a.kind {
	case kindSession:
		return append(dst, Window{ts, satAdd(ts, a.gap)})
	case kindTumbling, kindSliding:
		last := floorDiv(ts, a.slide) * a.slide
		for start := last; start > ts-a.size; start -= a.slide {
			dst = append(dst, Window{start, satAdd(start, a.size)})
		}
	}
	return dst
}

// countWindows appends to dst the count windows tuple number n (from 0) of a
// key belongs to: window j is [max(0,(j+1)·slide−size), (j+1)·slide), and
// n belongs to it when (j+1)·slide−size ≤ n < (j+1)·slide.
func (a Assigner) countWindows(n int64, dst []Window) []Window {
	// smallest j with (j+1)*slide > n: j = floor(n/slide)
	// largest j with (j+1)*slide - size <= n: j = floor((n+size)/slide) - 1
	for j := n / a.slide; j <= (n+a.size)/a.slide-1; j++ {
		end := (j + 1) * a.slide
		dst = append(dst, Window{max(0, end-a.size), end})
	}
	return dst
}

// mergeSession merges the tuple window c with those of live that overlap it
// and returns the merged window and the indices of the absorbed ones. Live
// sessions of a key never overlap each other, so one pass suffices: whatever
// overlaps the merged hull overlaps c or an absorbed window.
func mergeSession(c Window, live []Window) (Window, []int) {
	merged := c
	var absorbed []int
	for i, w := range live {
		if w.overlaps(c) {
			absorbed = append(absorbed, i)
			merged.Start = min(merged.Start, w.Start)
			merged.End = max(merged.End, w.End)
		}
	}
	return merged, absorbed
}

// isLate reports whether window w no longer accepts tuples at watermark wm:
// its end plus the allowed lateness is not after the watermark, so its state
// is (or is about to be) purged.
func isLate(w Window, lateness, wm int64) bool { return satAdd(w.End, lateness) <= wm }

// isComplete reports whether w's results are due at watermark wm: every
// tuple with a time before w.End has arrived (the watermark passed End−1).
func isComplete(w Window, wm int64) bool { return wm >= w.End }
