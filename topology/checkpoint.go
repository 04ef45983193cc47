package topology

// Checkpointer is implemented by spouts and bolts that keep state of their
// own outside keyed state — a spout's read position, a sink's unflushed
// buffer — in topologies with [ExactlyOnce] delivery. The runtime calls every
// method on the task's goroutine.
//
// A replayable spout must implement it: on restore it seeks back to the
// position of the last complete checkpoint, and replays from there.
type Checkpointer interface {
	// Snapshot returns the component's state as of checkpoint id. A spout
	// task calls it when the checkpoint starts, just before it emits the
	// barrier; a bolt task when the barriers of all its inputs have arrived,
	// after its last tuple before them. A sink flushes here. An error fails
	// the checkpoint, not the task.
	Snapshot(id uint64) ([]byte, error)

	// Restore hands back the snapshot the same task (same component and task
	// index) took for the last complete checkpoint. The runtime calls it
	// after Open or Prepare and before any Next or Execute, and only when
	// there is a checkpoint to restore.
	Restore(snapshot []byte) error

	// CheckpointComplete tells the task that checkpoint id completed on every
	// task: its snapshot will be restored after any later failure. A Kafka
	// spout commits its offsets here, never earlier.
	CheckpointComplete(id uint64)
}
