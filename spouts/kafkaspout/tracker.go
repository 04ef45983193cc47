package kafkaspout

import "sort"

// entry is one emitted record of a partition that is not yet committable.
type entry struct {
	rec      *Record
	acked    bool
	inflight bool // emitted and not yet acked or failed
	attempts int  // failures so far
}

// offsetTracker keeps the emitted, not yet committable records of one
// partition, in offset order, and computes the commit point: the lowest
// offset not yet acked, which by Kafka's convention is the value to commit
// (the next offset to read). Committing it is safe because every lower offset
// is acked; offsets may have gaps (compaction, transaction markers), which
// is why entries carry their offsets.
//
// It is a pure data structure owned by the spout task's goroutine.
type offsetTracker struct {
	// next is the offset after the last record added, or the position set by
	// reset; -1 while unknown.
	next int64
	// entries[head:] are the live entries, strictly ascending by offset.
	// Acked entries are popped from the front as soon as they are a prefix.
	// They are values, not pointers, to save an allocation per record; a
	// *entry from add or get is valid until the next add or ack.
	entries []entry
	head    int
}

func newOffsetTracker() offsetTracker { return offsetTracker{next: -1} }

// reset forgets every entry and sets the position to next (a seek).
func (t *offsetTracker) reset(next int64) {
	clear(t.entries)
	t.entries, t.head, t.next = t.entries[:0], 0, next
}

// add records that rec is emitted. Records must come in ascending offset
// order; add reports false (and keeps nothing) for one that does not.
func (t *offsetTracker) add(rec *Record) (*entry, bool) {
	if t.next >= 0 && rec.Offset < t.next {
		return nil, false
	}
	t.entries = append(t.entries, entry{rec: rec, inflight: true})
	t.next = rec.Offset + 1
	return &t.entries[len(t.entries)-1], true
}

// advance moves the position to next, past offsets that will never be
// emitted (transaction markers); it never moves it back.
func (t *offsetTracker) advance(next int64) {
	if next > t.next {
		t.next = next
	}
}

// get returns the live entry of offset off, or nil.
func (t *offsetTracker) get(off int64) *entry {
	live := t.entries[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].rec.Offset >= off })
	if i < len(live) && live[i].rec.Offset == off {
		return &live[i]
	}
	return nil
}

// ack marks off as done and reports whether it was live and not yet acked.
func (t *offsetTracker) ack(off int64) bool {
	e := t.get(off)
	if e == nil || e.acked {
		return false
	}
	e.acked, e.inflight = true, false
	for t.head < len(t.entries) && t.entries[t.head].acked {
		t.entries[t.head] = entry{}
		t.head++
	}
	if t.head == len(t.entries) {
		t.entries, t.head = t.entries[:0], 0
	} else if t.head >= 1024 && t.head*2 >= len(t.entries) {
		n := copy(t.entries, t.entries[t.head:])
		clear(t.entries[n:])
		t.entries, t.head = t.entries[:n], 0
	}
	return true
}

// commitPoint returns the offset to commit: the lowest live offset, or the
// position when nothing is live. ok is false while the position is unknown.
func (t *offsetTracker) commitPoint() (off int64, ok bool) {
	if t.head < len(t.entries) {
		return t.entries[t.head].rec.Offset, true
	}
	return t.next, t.next >= 0
}

// pending is the number of live (emitted, not committable) records.
func (t *offsetTracker) pending() int { return len(t.entries) - t.head }

// oldest returns the lowest live entry, or nil.
func (t *offsetTracker) oldest() *entry {
	if t.head < len(t.entries) {
		return &t.entries[t.head]
	}
	return nil
}
