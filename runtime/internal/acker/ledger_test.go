package acker

import (
	"math/rand/v2"
	"testing"
)

// step is one message fed to a ledger and the outcome it must produce.
type step struct {
	op    string // init, ack, fail, rotate
	root  uint64
	val   uint64
	spout TaskID
	want  Outcome
}

func TestLedger(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"single tuple acked", []step{
			{op: "init", root: 1, val: 7, spout: 3, want: Pending},
			{op: "ack", root: 1, val: 7, want: Completed},
		}},
		{"tree of three: root edge 7 with children 8 and 9", []step{
			{op: "init", root: 1, val: 7, spout: 3, want: Pending},
			{op: "ack", root: 1, val: 7 ^ 8 ^ 9, want: Pending},
			{op: "ack", root: 1, val: 8, want: Pending},
			{op: "ack", root: 1, val: 9, want: Completed},
		}},
		{"acks before init complete on init", []step{
			{op: "ack", root: 1, val: 7 ^ 8, want: Pending},
			{op: "ack", root: 1, val: 8, want: Pending},
			{op: "init", root: 1, val: 7, spout: 3, want: Completed},
		}},
		{"zero checksum before init is not complete", []step{
			{op: "ack", root: 1, val: 5, want: Pending},
			{op: "ack", root: 1, val: 5, want: Pending},
			{op: "init", root: 1, val: 9, spout: 3, want: Pending},
			{op: "ack", root: 1, val: 9, want: Completed},
		}},
		{"fail reports once, later acks ignored", []step{
			{op: "init", root: 1, val: 7 ^ 8, spout: 3, want: Pending},
			{op: "fail", root: 1, want: Failed},
			{op: "fail", root: 1, want: Ignored},
			{op: "ack", root: 1, val: 8, want: Ignored},
		}},
		{"fail before init is reported by the init", []step{
			{op: "fail", root: 1, want: Pending},
			{op: "init", root: 1, val: 7, spout: 3, want: Failed},
			{op: "ack", root: 1, val: 7, want: Ignored},
		}},
		{"untouched entries expire after keep rotations", []step{
			{op: "init", root: 1, val: 7, spout: 3, want: Pending},
			{op: "rotate"}, {op: "rotate"}, {op: "rotate"},
			{op: "ack", root: 1, val: 7, want: Pending}, // a new orphan entry: the tree was dropped
		}},
		{"touched entries survive rotation", []step{
			{op: "init", root: 1, val: 7 ^ 8, spout: 3, want: Pending},
			{op: "rotate"}, {op: "rotate"},
			{op: "ack", root: 1, val: 7, want: Pending},
			{op: "rotate"}, {op: "rotate"},
			{op: "ack", root: 1, val: 8, want: Completed},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(3)
			for i, s := range tc.steps {
				var r Result
				switch s.op {
				case "init":
					r = l.Init(s.root, s.val, s.spout)
				case "ack":
					r = l.Ack(s.root, s.val)
				case "fail":
					r = l.Fail(s.root)
				case "rotate":
					l.Rotate()
					continue
				}
				if r.Outcome != s.want {
					t.Fatalf("step %d (%s root=%d val=%d): got %v, want %v", i, s.op, s.root, s.val, r.Outcome, s.want)
				}
				if (r.Outcome == Completed || r.Outcome == Failed) && r.Spout != 3 {
					t.Fatalf("step %d: outcome %v names spout task %d, want 3", i, r.Outcome, r.Spout)
				}
			}
		})
	}
}

// TestLedgerRandomTrees builds random trees, delivers every message in a
// random order, and checks each tree completes exactly once, at its last
// message, and that the ledger ends empty.
func TestLedgerRandomTrees(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	type msg struct {
		init bool
		root uint64
		val  uint64
	}
	for round := range 200 {
		l := New(3)
		var msgs []msg
		roots := 1 + rng.IntN(5)
		for r := range roots {
			root := uint64(r + 1)
			// A random tree: each node has an edge id; a node's ack carries
			// its id XOR its children's ids.
			ids := []uint64{rng.Uint64() | 1}
			initVal := ids[0]
			var acks []uint64
			for i := 0; i < len(ids) && len(ids) < 30; i++ {
				v := ids[i]
				for range rng.IntN(3) {
					c := rng.Uint64() | 1
					ids = append(ids, c)
					v ^= c
				}
				acks = append(acks, v)
			}
			for i := len(acks); i < len(ids); i++ {
				acks = append(acks, ids[i])
			}
			msgs = append(msgs, msg{init: true, root: root, val: initVal})
			for _, a := range acks {
				msgs = append(msgs, msg{root: root, val: a})
			}
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		remaining := map[uint64]int{}
		for _, m := range msgs {
			remaining[m.root]++
		}
		completed := map[uint64]bool{}
		for _, m := range msgs {
			var r Result
			if m.init {
				r = l.Init(m.root, m.val, 3)
			} else {
				r = l.Ack(m.root, m.val)
			}
			remaining[m.root]--
			switch r.Outcome {
			case Completed:
				if completed[m.root] {
					t.Fatalf("round %d: root %d completed twice", round, m.root)
				}
				if remaining[m.root] != 0 {
					t.Fatalf("round %d: root %d completed with %d messages still to come", round, m.root, remaining[m.root])
				}
				completed[m.root] = true
			case Pending:
			default:
				t.Fatalf("round %d: unexpected outcome %v", round, r.Outcome)
			}
		}
		if len(completed) != roots || l.Len() != 0 {
			t.Fatalf("round %d: %d of %d trees completed, %d left in ledger", round, len(completed), roots, l.Len())
		}
	}
}
