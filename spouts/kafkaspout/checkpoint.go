package kafkaspout

import (
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gale-stream/gale/topology"
)

// The spout implements [topology.Checkpointer] for exactly-once topologies:
//
//   - Snapshot returns, for every owned partition, the offset after the last
//     record emitted (the runtime emits the barrier right after it, so the
//     checkpoint covers exactly the records emitted before it);
//   - Restore seeks to those offsets. Positions of partitions this task does
//     not own are kept in case it is assigned them later. After a change of
//     parallelism a task may own a partition no restored snapshot names: it
//     starts at the group's committed offset, which CheckpointComplete set to
//     the same checkpoint's position (unless that commit failed; then it
//     replays from an earlier one, which a restored state sees twice);
//   - CheckpointComplete commits the positions of its snapshot to the
//     consumer group, for lag tools. Offsets are committed there, never
//     earlier.
var _ topology.Checkpointer = (*Spout)(nil)

// snapshotVersion is the version of the encoded snapshot.
const snapshotVersion = 1

// snapshot is the spout's checkpoint state.
type snapshot struct {
	Version   int        `msgpack:"v"`
	Group     string     `msgpack:"g"`
	Positions []position `msgpack:"p"`
}

type position struct {
	Topic     string `msgpack:"t"`
	Partition int32  `msgpack:"p"`
	Offset    int64  `msgpack:"o"`
}

type snapshotRec struct {
	id   uint64
	offs map[topicPartition]int64
}

// positions returns the next offset to emit of every owned partition whose
// position is known.
func (s *Spout) positions() map[topicPartition]int64 {
	offs := make(map[topicPartition]int64, len(s.order))
	for _, ps := range s.order {
		next := ps.tr.next
		if len(ps.buf) > 0 {
			next = ps.buf[0].Offset
		}
		if next < 0 {
			next = ps.sh.start.Load()
		}
		if next >= 0 {
			offs[ps.tp] = next
		}
	}
	return offs
}

// Snapshot implements [topology.Checkpointer].
func (s *Spout) Snapshot(id uint64) ([]byte, error) {
	offs := s.positions()
	s.snapshots = append(s.snapshots, snapshotRec{id: id, offs: offs})
	return encodeSnapshot(s.group, offs)
}

func encodeSnapshot(group string, offs map[topicPartition]int64) ([]byte, error) {
	snap := snapshot{Version: snapshotVersion, Group: group}
	for tp, off := range offs {
		snap.Positions = append(snap.Positions, position{tp.Topic, tp.Partition, off})
	}
	slices.SortFunc(snap.Positions, func(a, b position) int {
		return compareTP(topicPartition{a.Topic, a.Partition}, topicPartition{b.Topic, b.Partition})
	})
	b, err := msgpack.Marshal(&snap)
	if err != nil {
		return nil, fmt.Errorf("kafkaspout: encode snapshot: %w", err)
	}
	return b, nil
}

func decodeSnapshot(b []byte) (map[topicPartition]int64, error) {
	var snap snapshot
	if err := msgpack.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if snap.Version != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrSnapshot, snap.Version, snapshotVersion)
	}
	offs := make(map[topicPartition]int64, len(snap.Positions))
	for _, p := range snap.Positions {
		if p.Offset < 0 || p.Partition < 0 {
			return nil, fmt.Errorf("%w: negative position %+v", ErrSnapshot, p)
		}
		offs[topicPartition{p.Topic, p.Partition}] = p.Offset
	}
	return offs, nil
}

// Restore implements [topology.Checkpointer].
func (s *Spout) Restore(state []byte) error {
	offs, err := decodeSnapshot(state)
	if err != nil {
		return err
	}
	if s.restored == nil {
		s.restored = make(map[topicPartition]int64)
	}
	for tp, off := range offs {
		s.restored[tp] = off
		if ps := s.parts[tp]; ps != nil {
			s.seek(ps, off)
		}
	}
	if s.log != nil {
		s.log.Info("kafka spout restored", "positions", len(offs))
	}
	return nil
}

// CheckpointComplete implements [topology.Checkpointer].
func (s *Spout) CheckpointComplete(id uint64) {
	i := slices.IndexFunc(s.snapshots, func(r snapshotRec) bool { return r.id == id })
	if i < 0 {
		return
	}
	rec := s.snapshots[i]
	s.snapshots = slices.Delete(s.snapshots, 0, i+1)
	offs := make(map[topicPartition]int64, len(rec.offs))
	for tp, off := range rec.offs {
		if ps := s.parts[tp]; ps != nil && off > ps.committed {
			offs[tp] = off
		}
	}
	if len(offs) == 0 {
		return
	}
	if s.commitOffsets(offs) == nil {
		for tp, off := range offs {
			s.parts[tp].setCommitted(off)
		}
	}
}
