package gen

import (
	"encoding/binary"
	"fmt"
)

// snapshotVersion is the first byte of a snapshot.
const snapshotVersion = 1

// Snapshot returns the task's position for checkpoint id of an exactly-once
// topology: its task index and the number of sentences it has emitted. The
// generator is deterministic, so the position is all it takes to rewind.
// It is called on the task's goroutine, between calls of Next.
func (s *sentenceSpout) Snapshot(id uint64) ([]byte, error) {
	b := []byte{snapshotVersion}
	b = binary.AppendUvarint(b, uint64(s.index))
	b = binary.AppendUvarint(b, uint64(s.emitted))
	return b, nil
}

// Restore rewinds the task to a snapshot made by Snapshot, after Open and
// before the first Next: the next sentence is the one that followed the snapshot. A snapshot
// of another task index is ignored (each index has its own stream), so after
// a rescale the restored tasks are those whose index survived.
func (s *sentenceSpout) Restore(state []byte) error {
	if len(state) == 0 || state[0] != snapshotVersion {
		return fmt.Errorf("%w: snapshot version %v, want %d", ErrBadSnapshot, state[:min(len(state), 1)], snapshotVersion)
	}
	index, n := binary.Uvarint(state[1:])
	if n <= 0 {
		return fmt.Errorf("%w: bad task index", ErrBadSnapshot)
	}
	emitted, m := binary.Uvarint(state[1+n:])
	if m <= 0 || 1+n+m != len(state) {
		return fmt.Errorf("%w: bad position", ErrBadSnapshot)
	}
	if index != uint64(s.index) {
		return nil
	}
	if s.cfg.Limit > 0 && emitted > uint64(s.cfg.Limit) {
		return fmt.Errorf("%w: position %d beyond the limit %d", ErrBadSnapshot, emitted, s.cfg.Limit)
	}
	s.gen = newGenerator(s.cfg, s.vocab, s.index)
	for range emitted {
		s.gen.skip()
	}
	s.emitted = int64(emitted)
	s.pending = make(map[uint64]string)
	s.replay = nil
	return nil
}

// CheckpointComplete does nothing: a generator has nothing to commit.
func (s *sentenceSpout) CheckpointComplete(id uint64) {}

// The runtime finds checkpointing spouts by this method set (the one the
// Kafka spout implements too).
var _ interface {
	Snapshot(id uint64) ([]byte, error)
	Restore(state []byte) error
	CheckpointComplete(id uint64)
} = (*sentenceSpout)(nil)
