package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/gale-stream/gale/topology"
)

// fileSink writes its inputs to files with two-phase commit, the way an
// exactly-once sink must: what arrives between two barriers is held as a
// pending transaction, which becomes part of the checkpoint's snapshot and
// is committed — written as out-<checkpoint>.json, atomically and at most
// once — when the checkpoint completes. A restore commits the restored
// snapshot's transaction, in case the process died between the checkpoint's
// completion and the commit.
type fileSink struct {
	dir     string
	pending []json.RawMessage
	// prepared are the transactions of checkpoints not yet known complete.
	prepared map[uint64][]json.RawMessage
}

type sinkSnapshot struct {
	ID    uint64            `json:"id"`
	Lines []json.RawMessage `json:"lines"`
}

func (s *fileSink) Prepare(context.Context, *topology.Context) error {
	s.prepared = map[uint64][]json.RawMessage{}
	return os.MkdirAll(s.dir, 0o755)
}

func (s *fileSink) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	line, err := json.Marshal(t.Values())
	if err != nil {
		return err
	}
	s.pending = append(s.pending, line)
	out.Ack(t)
	return nil
}

func (s *fileSink) Cleanup() error { return nil }

func (s *fileSink) Snapshot(id uint64) ([]byte, error) {
	s.prepared[id] = s.pending
	s.pending = nil
	return json.Marshal(sinkSnapshot{ID: id, Lines: s.prepared[id]})
}

func (s *fileSink) CheckpointComplete(id uint64) {
	for pid, lines := range s.prepared {
		if pid <= id {
			if err := s.commit(pid, lines); err != nil {
				panic(err)
			}
			delete(s.prepared, pid)
		}
	}
}

func (s *fileSink) Restore(b []byte) error {
	var snap sinkSnapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return err
	}
	return s.commit(snap.ID, snap.Lines)
}

func (s *fileSink) commit(id uint64, lines []json.RawMessage) error {
	name := filepath.Join(s.dir, fmt.Sprintf("out-%08d.json", id))
	if _, err := os.Stat(name); err == nil {
		return nil // committed before
	}
	b, err := json.Marshal(lines)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// committedLines reads every committed transaction of a fileSink directory,
// in checkpoint order.
func committedLines(dir string) ([][]any, error) {
	names, err := filepath.Glob(filepath.Join(dir, "out-*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out [][]any
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var lines [][]any
		if err := json.Unmarshal(b, &lines); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, lines...)
	}
	return out, nil
}
