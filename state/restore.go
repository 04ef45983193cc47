package state

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/gale-stream/gale/internal/keygroup"
)

// Source names one checkpoint in one storage.
type Source struct {
	Storage CheckpointStorage
	ID      uint64
}

// Restore replaces the state of scopes with their state in checkpoint id of
// storage. See [Store.RestoreFrom].
func (s *Store) Restore(ctx context.Context, storage CheckpointStorage, id uint64, scopes []Scope) error {
	return s.RestoreFrom(ctx, scopes, Source{Storage: storage, ID: id})
}

// RestoreFrom replaces the state of scopes with their state in the given
// checkpoints. The runtime calls it before it opens Backends for the
// scopes; it fails with ErrScopeInUse if one is open.
//
// For each scope it deletes the live key groups and operator state, then
// copies from every source the keys of the scope's key groups that the
// source's own scopes owned, and the operator state of the scope's task
// index if the source's scopes include that task. A task that owns a different
// range of key groups than the task that wrote the checkpoint (after
// rescaling) therefore gets exactly its groups, and several sources (the
// checkpoints of several old workers, each holding some of the groups)
// can be combined. It returns ErrIncompleteRestore when the sources hold a
// component's state but together do not cover every key group asked for,
// and ErrConflictingSources when two sources claim the same key group.
//
// Each source's files are copied from storage into a staging directory,
// verified against the manifest's checksums, and opened as a read-only
// Pebble database that is scanned span by span.
func (s *Store) RestoreFrom(ctx context.Context, scopes []Scope, sources ...Source) (err error) {
	start := time.Now()
	for i, sc := range scopes {
		if err := sc.validate(); err != nil {
			return err
		}
		for _, other := range scopes[:i] {
			if sc.overlaps(other) {
				return fmt.Errorf("%w: restore %s overlaps %s", ErrInvalidScope, sc, other)
			}
		}
	}
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	for _, open := range s.scopes() {
		for _, sc := range scopes {
			if open.overlaps(sc) {
				return fmt.Errorf("state: restore %s: %w by %s", sc, ErrScopeInUse, open)
			}
		}
	}
	manifests := make([]*Manifest, len(sources))
	for i, src := range sources {
		if manifests[i], err = ReadManifest(ctx, src.Storage, src.ID); err != nil {
			return fmt.Errorf("state: restore: %w", err)
		}
	}
	if err := checkCoverage(scopes, manifests); err != nil {
		return err
	}

	// Delete the live state first: keys the checkpoint does not have must
	// not survive the restore.
	if err := s.deleteSpans(scopes); err != nil {
		return fmt.Errorf("state: restore: delete live state: %w", err)
	}

	var written int64
	for i, src := range sources {
		n, err := s.restoreSource(ctx, src, manifests[i], scopes, i)
		written += n
		if err != nil {
			return fmt.Errorf("state: restore from checkpoint %d: %w", src.ID, err)
		}
	}
	s.metrics.restoreDuration.Observe(time.Since(start).Seconds())
	s.metrics.restoreBytes.Add(float64(written))
	s.log.Info("state restored", "scopes", len(scopes), "sources", len(sources),
		"bytes", written, "duration", time.Since(start))
	return nil
}

// checkCoverage checks that for every (topology, component) some source has
// state of, the sources together cover every key group the scopes ask for.
func checkCoverage(scopes []Scope, manifests []*Manifest) error {
	type comp struct{ topo, comp string }
	covered := make(map[comp][]bool)
	maxPar := make(map[comp]int)
	for _, m := range manifests {
		for _, sc := range m.Scopes {
			c := comp{sc.Topology, sc.Component}
			if covered[c] == nil {
				covered[c] = make([]bool, MaxMaxParallelism)
				maxPar[c] = sc.MaxParallelism
			}
			if maxPar[c] != sc.MaxParallelism {
				return fmt.Errorf("%w: checkpoints of %s/%s disagree on max parallelism (%d, %d)",
					ErrIncompleteRestore, sc.Topology, sc.Component, maxPar[c], sc.MaxParallelism)
			}
			for g := sc.Groups.Start; g < sc.Groups.End; g++ {
				if covered[c][g] {
					return fmt.Errorf("%w: key group %d of %s/%s is in two checkpoints (checkpoint %d of store %s is one)",
						ErrConflictingSources, g, sc.Topology, sc.Component, m.ID, m.StoreID)
				}
				covered[c][g] = true
			}
		}
	}
	for _, sc := range scopes {
		c := comp{sc.Topology, sc.Component}
		cov := covered[c]
		if cov == nil {
			continue // no source has state of this component: nothing to copy
		}
		if maxPar[c] != sc.MaxParallelism {
			// Key groups of different maximum parallelisms are different
			// sets of keys.
			return fmt.Errorf("%w: %s: the checkpoint has max parallelism %d", ErrIncompleteRestore, sc, maxPar[c])
		}
		for g := sc.Groups.Start; g < sc.Groups.End; g++ {
			if !cov[g] {
				return fmt.Errorf("%w: %s: key group %d is in no source checkpoint", ErrIncompleteRestore, sc, g)
			}
		}
	}
	return nil
}

// restoreSource copies the scopes' spans out of one checkpoint and returns
// the bytes written.
func (s *Store) restoreSource(ctx context.Context, src Source, m *Manifest, scopes []Scope, n int) (int64, error) {
	dir := s.fs.PathJoin(s.dir, stagingDir, fmt.Sprintf("restore-%d-%d", src.ID, n))
	_ = s.fs.RemoveAll(dir)
	defer func() { _ = s.fs.RemoveAll(dir) }()
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	for _, f := range m.Files {
		if err := s.download(ctx, src.Storage, f, s.fs.PathJoin(dir, f.Name)); err != nil {
			return 0, err
		}
	}
	cp, err := pebble.Open(dir, &pebble.Options{
		FS:       s.fs,
		Cache:    s.cache,
		ReadOnly: true,
		Logger:   pebbleLogger{s.log},
	})
	if err != nil {
		return 0, fmt.Errorf("open checkpoint: %w", err)
	}
	defer cp.Close()

	var written int64
	batch := s.db.NewBatch()
	defer func() { _ = batch.Close() }()
	copySpan := func(lo, hi []byte) error {
		it, err := cp.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return err
		}
		defer it.Close()
		for valid := it.First(); valid; valid = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				return err
			}
			_ = batch.Set(it.Key(), v, nil)
			written += int64(len(it.Key()) + len(v))
			if batch.Len() >= restoreBatchBytes {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := batch.Commit(pebble.NoSync); err != nil {
					return err
				}
				batch.Reset()
			}
		}
		return it.Error()
	}
	// Copy only what the checkpoint's own scopes owned: its sstables may
	// still hold stale data of key groups its store owned earlier, which
	// another source has fresh.
	for _, sc := range scopes {
		for _, ms := range m.Scopes {
			if ms.Topology != sc.Topology || ms.Component != sc.Component {
				continue
			}
			r := keygroup.Range{Start: max(sc.Groups.Start, ms.Groups.Start), End: min(sc.Groups.End, ms.Groups.End)}
			if r.Start < r.End {
				lo, hi := groupSpan(sc.Topology, sc.Component, r)
				if err := copySpan(lo, hi); err != nil {
					return written, err
				}
			}
			if ms.Task == sc.Task {
				lo, hi := operatorSpan(sc.Topology, sc.Component, sc.Task)
				if err := copySpan(lo, hi); err != nil {
					return written, err
				}
			}
		}
	}
	return written, batch.Commit(pebble.NoSync)
}

// download copies one checkpoint file from storage to local and checks its
// size and checksum.
func (s *Store) download(ctx context.Context, storage CheckpointStorage, f ManifestFile, local string) error {
	r, err := storage.OpenFile(ctx, f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	out, err := s.fs.Create(local, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	h := crc32.New(castagnoli)
	// Hash before writing: Pebble's in-memory FS (under its invariants
	// build tag, which -race sets) scrambles the buffers passed to Write.
	n, err := io.Copy(io.MultiWriter(h, out), ctxReader{ctx, r})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	if n != f.Size || h.Sum32() != f.CRC32C {
		return fmt.Errorf("download %s: %d bytes crc %08x, manifest says %d bytes crc %08x: %w",
			f.Path, n, h.Sum32(), f.Size, f.CRC32C, ErrCorrupt)
	}
	return nil
}

// restoreBatchBytes is the size at which restore commits a batch. Larger
// batches (past half the memtable, Pebble's flushable-batch path) measured
// no clear gain; restore time goes mostly into iterating the checkpoint.
const restoreBatchBytes = 4 << 20
