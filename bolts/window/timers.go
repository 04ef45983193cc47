package window

import (
	"cmp"
	"container/heap"
)

// timerID names the timer of one window of one key. Key is the record key's
// canonical encoding (keygroup.AppendKey of the key fields).
type timerID struct {
	Key        string
	Start, End int64
}

// timerIndex is the in-memory view of a task's timers: at most one per
// (key, window), with the time it is due. The bolt keeps the same timers in
// keyed state (one map per key group, under a key of that group) and
// rebuilds the index from there in Prepare, so a restored task finds its due
// windows without scanning every key. Due times pop in order of (due, key,
// start, end), which makes firings deterministic.
//
// Replaced and deleted timers stay in the heap and are skipped when popped
// (their due time no longer matches the map).
type timerIndex struct {
	due  map[timerID]int64
	heap timerHeap
}

type timerEntry struct {
	due int64
	id  timerID
}

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := cmp.Compare(a.due, b.due); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.id.Key, b.id.Key); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.id.Start, b.id.Start); c != 0 {
		return c < 0
	}
	return a.id.End < b.id.End
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newTimerIndex() timerIndex { return timerIndex{due: make(map[timerID]int64)} }

// set sets (or moves) the timer id to due.
func (x *timerIndex) set(id timerID, due int64) {
	if old, ok := x.due[id]; ok && old == due {
		return
	}
	x.due[id] = due
	heap.Push(&x.heap, timerEntry{due, id})
	x.compact()
}

// delete removes the timer id.
func (x *timerIndex) delete(id timerID) {
	delete(x.due, id)
	x.compact()
}

// compact rebuilds the heap when stale entries outnumber live ones, so
// churn (sessions merging, timers moving) cannot grow it without bound.
func (x *timerIndex) compact() {
	if len(x.heap) < 64 || len(x.heap) < 2*len(x.due) {
		return
	}
	h := make(timerHeap, 0, len(x.due))
	for id, d := range x.due {
		h = append(h, timerEntry{d, id})
	}
	heap.Init(&h)
	x.heap = h
}

// popDue removes and returns the earliest timer due at or before wm.
func (x *timerIndex) popDue(wm int64) (timerID, int64, bool) {
	for len(x.heap) > 0 && x.heap[0].due <= wm {
		e := heap.Pop(&x.heap).(timerEntry)
		if d, ok := x.due[e.id]; ok && d == e.due {
			delete(x.due, e.id)
			return e.id, e.due, true
		}
	}
	return timerID{}, 0, false
}

// has reports whether window w of record key key has a timer.
func (x *timerIndex) has(key []byte, w Window) bool {
	_, ok := x.due[timerID{Key: string(key), Start: w.Start, End: w.End}]
	return ok
}

// len is the number of live timers.
func (x *timerIndex) len() int { return len(x.due) }
