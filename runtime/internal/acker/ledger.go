// Package acker holds the pure bookkeeping of Storm-style tuple tracking: a
// ledger of spout tuple trees, each a 64-bit XOR checksum of the edge ids
// that were created and acked in it. It starts no goroutines and reads no
// clock; the runtime's acker task feeds it messages and acts on the results.
//
// A tree starts when its spout task reports the XOR of the edge ids it sent
// (Init). Every ack of a tuple in the tree XORs in the tuple's own edge id and
// the ids of the children it was anchored to (Ack). Each id enters the
// checksum twice, once when created and once when acked, so the checksum is
// zero exactly when every tuple of the tree has been acked. Messages may
// arrive in any order: an Ack can precede the Init of its tree, so a tree
// completes only once it is initialised and its checksum is zero.
package acker

// TaskID is the id of the spout task that emitted a tree.
type TaskID = int32

// Outcome says what a message did to its tree.
type Outcome uint8

const (
	// Pending: the tree is still in flight.
	Pending Outcome = iota
	// Completed: every tuple of the tree was acked; tell the spout task Ack.
	Completed
	// Failed: a tuple of the tree failed; tell the spout task Fail.
	Failed
	// Ignored: the message was for a tree that already failed.
	Ignored
)

func (o Outcome) String() string {
	switch o {
	case Pending:
		return "pending"
	case Completed:
		return "complete"
	case Failed:
		return "failed"
	case Ignored:
		return "ignored"
	}
	return "unknown"
}

// Result is the outcome of one message and the spout task to tell.
type Result struct {
	Outcome Outcome
	Spout   TaskID
}

type failure struct {
	gen      uint64
	reported bool
}

type entry struct {
	val   uint64
	spout TaskID
	init  bool
	// gen is the rotation generation in which the entry was last touched.
	gen uint64
}

// Ledger tracks tuple trees by root id. The zero value is not usable; call
// [New]. A Ledger is not safe for concurrent use.
type Ledger struct {
	trees map[uint64]*entry
	// failed remembers trees that failed, until they expire, so that late
	// acks of their tuples do not start orphan entries, and so that a Fail
	// that overtook its tree's Init is reported when the Init arrives.
	failed map[uint64]failure
	gen    uint64
	keep   uint64
}

// New returns a ledger whose untouched entries expire after keep rotations
// (see [Ledger.Rotate]). The runtime rotates every message timeout / (keep-1),
// so a tree lives at least a timeout after its last message, as Storm's
// rotating map does.
func New(keep int) *Ledger {
	if keep < 2 {
		keep = 2
	}
	return &Ledger{trees: make(map[uint64]*entry), failed: make(map[uint64]failure), keep: uint64(keep)}
}

// Len is the number of trees in flight.
func (l *Ledger) Len() int { return len(l.trees) }

// Init records that spout task spout started the tree root with the XOR of
// the edge ids it sent.
func (l *Ledger) Init(root, val uint64, spout TaskID) Result {
	if f, ok := l.failed[root]; ok {
		if f.reported {
			return Result{Outcome: Ignored, Spout: spout}
		}
		f.reported = true
		l.failed[root] = f
		return Result{Outcome: Failed, Spout: spout}
	}
	e := l.trees[root]
	if e == nil {
		e = &entry{}
		l.trees[root] = e
	}
	e.val ^= val
	e.spout = spout
	e.init = true
	e.gen = l.gen
	return l.settle(root, e)
}

// Ack XORs val (the acked tuple's edge id XOR its children's) into root.
func (l *Ledger) Ack(root, val uint64) Result {
	if _, ok := l.failed[root]; ok {
		return Result{Outcome: Ignored}
	}
	e := l.trees[root]
	if e == nil {
		e = &entry{}
		l.trees[root] = e
	}
	e.val ^= val
	e.gen = l.gen
	return l.settle(root, e)
}

// Fail fails the tree root. The first Fail of an initialised tree reports
// Failed with its spout task; a Fail that overtook the tree's Init is
// reported by that Init instead. Later messages for the tree are Ignored
// until it expires.
func (l *Ledger) Fail(root uint64) Result {
	if _, ok := l.failed[root]; ok {
		return Result{Outcome: Ignored}
	}
	e := l.trees[root]
	delete(l.trees, root)
	if e == nil || !e.init {
		l.failed[root] = failure{gen: l.gen}
		return Result{Outcome: Pending}
	}
	l.failed[root] = failure{gen: l.gen, reported: true}
	return Result{Outcome: Failed, Spout: e.spout}
}

// Forget drops root without an outcome: its spout task timed it out.
func (l *Ledger) Forget(root uint64) {
	delete(l.trees, root)
}

func (l *Ledger) settle(root uint64, e *entry) Result {
	if e.init && e.val == 0 {
		delete(l.trees, root)
		return Result{Outcome: Completed, Spout: e.spout}
	}
	return Result{Outcome: Pending, Spout: e.spout}
}

// Rotate advances the generation and drops entries untouched for keep
// generations. It returns how many trees it dropped.
func (l *Ledger) Rotate() int {
	l.gen++
	n := 0
	for root, e := range l.trees {
		if l.gen-e.gen >= l.keep {
			delete(l.trees, root)
			n++
		}
	}
	for root, f := range l.failed {
		if l.gen-f.gen >= l.keep {
			delete(l.failed, root)
		}
	}
	return n
}
