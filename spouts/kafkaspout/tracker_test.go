package kafkaspout

import (
	"math/rand/v2"
	"testing"
)

func rec(off int64) *Record { return &Record{Topic: "t", Offset: off} }

func TestOffsetTracker(t *testing.T) {
	type step struct {
		op   string // "add", "ack", "reset"
		off  int64
		ok   bool  // expected result of add/ack
		cp   int64 // expected commit point after the step; -1: unknown
		pend int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty is unknown", []step{{op: "reset", off: -1, cp: -1}}},
		{"in order acks", []step{
			{op: "add", off: 0, ok: true, cp: 0, pend: 1},
			{op: "add", off: 1, ok: true, cp: 0, pend: 2},
			{op: "ack", off: 0, ok: true, cp: 1, pend: 1},
			{op: "ack", off: 1, ok: true, cp: 2, pend: 0},
		}},
		{"out of order ack holds the commit point", []step{
			{op: "add", off: 5, ok: true, cp: 5, pend: 1},
			{op: "add", off: 6, ok: true, cp: 5, pend: 2},
			{op: "add", off: 7, ok: true, cp: 5, pend: 3},
			{op: "ack", off: 7, ok: true, cp: 5, pend: 3},
			{op: "ack", off: 6, ok: true, cp: 5, pend: 3},
			{op: "ack", off: 5, ok: true, cp: 8, pend: 0},
		}},
		{"gaps in offsets", []step{
			{op: "add", off: 10, ok: true, cp: 10, pend: 1},
			{op: "add", off: 14, ok: true, cp: 10, pend: 2},
			{op: "ack", off: 10, ok: true, cp: 14, pend: 1},
			{op: "ack", off: 12, ok: false, cp: 14, pend: 1},
			{op: "ack", off: 14, ok: true, cp: 15, pend: 0},
		}},
		{"double ack and unknown ack", []step{
			{op: "add", off: 0, ok: true, cp: 0, pend: 1},
			{op: "add", off: 1, ok: true, cp: 0, pend: 2},
			{op: "ack", off: 1, ok: true, cp: 0, pend: 2},
			{op: "ack", off: 1, ok: false, cp: 0, pend: 2},
			{op: "ack", off: 99, ok: false, cp: 0, pend: 2},
		}},
		{"going backwards is refused", []step{
			{op: "add", off: 3, ok: true, cp: 3, pend: 1},
			{op: "add", off: 3, ok: false, cp: 3, pend: 1},
			{op: "add", off: 2, ok: false, cp: 3, pend: 1},
		}},
		{"reset is a seek", []step{
			{op: "add", off: 0, ok: true, cp: 0, pend: 1},
			{op: "reset", off: 40, cp: 40, pend: 0},
			{op: "add", off: 39, ok: false, cp: 40, pend: 0},
			{op: "add", off: 40, ok: true, cp: 40, pend: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newOffsetTracker()
			for i, st := range tt.steps {
				var ok bool
				switch st.op {
				case "add":
					_, ok = tr.add(rec(st.off))
				case "ack":
					ok = tr.ack(st.off)
				case "reset":
					tr.reset(st.off)
					ok = st.ok
				}
				if ok != st.ok {
					t.Fatalf("step %d %s(%d): ok=%v, want %v", i, st.op, st.off, ok, st.ok)
				}
				cp, known := tr.commitPoint()
				if !known {
					cp = -1
				}
				if cp != st.cp || tr.pending() != st.pend {
					t.Fatalf("step %d %s(%d): commit point %d pending %d, want %d and %d", i, st.op, st.off, cp, tr.pending(), st.cp, st.pend)
				}
			}
		})
	}
}

// TestOffsetTrackerRandom acks a long run of offsets in random order and
// checks after every ack that the commit point is the lowest un-acked offset.
func TestOffsetTrackerRandom(t *testing.T) {
	seed := uint64(42)
	r := rand.New(rand.NewPCG(seed, seed))
	tr := newOffsetTracker()
	const n = 5000
	acked := make([]bool, n)
	for off := range int64(n) {
		if _, ok := tr.add(rec(off)); !ok {
			t.Fatalf("add %d refused", off)
		}
	}
	order := r.Perm(n)
	low := 0
	for _, off := range order {
		if !tr.ack(int64(off)) {
			t.Fatalf("seed %d: ack %d refused", seed, off)
		}
		acked[off] = true
		for low < n && acked[low] {
			low++
		}
		cp, _ := tr.commitPoint()
		if cp != int64(low) {
			t.Fatalf("seed %d: commit point %d, want %d", seed, cp, low)
		}
		if tr.pending() != n-low {
			t.Fatalf("seed %d: pending %d, want %d", seed, tr.pending(), n-low)
		}
	}
}
