// Package gen holds generator spouts for demos, tests and benchmarks.
//
// [Sentences] emits sentences of pseudo-words drawn from a fixed, seeded
// [Vocabulary]. Every task of the spout draws from its own stream, derived
// from the seed and the task's index, so a run is reproducible however the
// runtime schedules tasks. With a Limit per task, [Expected] computes the
// exact word counts the spout produces, which is how the word-count example
// and the benchmarks check their totals; [Generator] yields one task's
// sentences outside a topology, for baselines.
//
// # Delivery
//
// With Reliable set, each sentence carries a message id (a uint64 sequence
// number per task). The spout keeps it until it is acked and emits it again,
// with the same id and the same text, when it fails or times out. Replays go
// out before new sentences and do not count against the Limit. Without
// Reliable, sentences are emitted untracked. Reliable is ignored in
// at-most-once and exactly-once topologies, where the runtime acks nothing.
//
// In exactly-once topologies the spout takes part in checkpoints through
// Snapshot, Restore and CheckpointComplete: its position is the number of
// sentences a task has emitted, and since the stream is deterministic,
// restoring regenerates it up to that point and goes on from there, so a
// recovered run emits exactly what an undisturbed one would.
//
// # Rate
//
// Rate bounds the sentences per second per task with a token bucket
// (golang.org/x/time/rate) whose burst is one Batch. Next never sleeps: when
// no tokens are left it returns at once without emitting, and the runtime
// backs off before calling again.
package gen
