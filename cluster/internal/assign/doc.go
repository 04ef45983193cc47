// Package assign computes where a cluster runs its topologies. It is pure:
// no goroutines, no I/O, no clock, no randomness. The same [Input] gives the
// same [Assignment] on every node, whatever the order of its slices, so any
// node can check the coordinator's work and tests can replay it.
//
// # Two levels
//
// A topology runs in Workers worker processes. [Compute] decides two things:
//
//  1. Which node runs each worker (placement).
//  2. Which tasks, and so which key groups, each worker owns (task layout).
//
// # Placement: sticky, capacity-bounded rendezvous hashing
//
// Every node has a number of worker slots. Let W be the number of workers
// of all topologies and S the slots of all nodes. A node with s slots has the
// fair share W·s/S, and it ends with that share rounded down or up: nodes of
// equal slots run numbers of workers within one of each other, and every
// node's load per slot is within one worker of every other's. When W <= S
// (capacity suffices) no node runs more workers than it has slots, yet the
// workers are spread over all nodes rather than packed. When W > S every
// worker is still placed, evenly over-committed, and
// [Assignment.Overcommitted] is set. The rounding-up is a budget of
// W - Σ⌊W·s/S⌋ extra workers, handed out greedily; the bounds add up to W,
// so the greedy placement never gets stuck and ends with the budget spent.
//
// Placement runs in two phases over the workers in a canonical order
// (topology name, then worker index):
//
//   - Keep: a worker stays on the node the previous assignment gave it if that
//     node is still present and under its bound. This is what makes a change
//     of membership move few workers: when a node leaves, only its own workers
//     move; when a node joins, only the workers beyond the new (lower) bounds
//     of the old nodes move, about W/(N+1) of them, and they go to the new
//     node.
//   - Place: every other worker goes to the node with the highest weighted
//     rendezvous score (highest random weight, Thaler and Ravishankar) that is
//     still under its bound. The score of worker w on node n with s slots is
//     s / -ln(u), u a 64-bit hash of (w, n) mapped to (0,1) (Schindelhauer and
//     Schomaker's weighted form), so a node's share of first choices is
//     proportional to its slots, and a cold start without a previous
//     assignment is already spread evenly and independently of history.
//
// Cost: the keep phase is linear in the workers; the place phase scans the
// open nodes for each worker it places, O(placed × N). A cold start of
// 100,000 workers on 1,000 nodes takes about 0.2 s of CPU; after one node
// leaves, the 100 orphaned workers are placed in about 15 ms, most of it
// the linear work.
//
// # Task layout: contiguous blocks
//
// The tasks of a component with parallelism p are split over the W workers
// of its topology in contiguous, balanced blocks: block b holds task indices
// [b·p/W, (b+1)·p/W). Contiguous blocks, rather than round robin, give every
// worker one contiguous range of key groups per component (key groups follow
// tasks, see internal/keygroup), so its keyed state is one key range in its
// store and a rescale moves whole ranges. Block b of a component goes to
// worker (b + o) mod W, where o is the sum of the parallelisms of the
// components before it in name order: without the rotation every component
// with fewer tasks than workers would put them all on worker 0.
//
// The layout of a topology depends only on the topology, not on the nodes,
// so it does not change when membership does; only placements move.
//
// # Fencing tokens
//
// Every worker carries Since, the epoch from which it has run on its node
// with its tasks and its topology's generation. A worker that an assignment
// leaves alone keeps its Since, so epochs made for other changes do not
// fence it off; a worker that moves, changes tasks (a rescale) or belongs to
// a resubmitted topology gets the new epoch.
package assign
