package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Manifest describes one complete checkpoint of one Store. It is stored as
// JSON, last, so a checkpoint whose manifest exists is complete.
type Manifest struct {
	// ID is the checkpoint id the runtime's coordinator chose.
	ID uint64 `json:"id"`
	// Epoch is the store's assignment epoch when it wrote the checkpoint.
	Epoch uint64 `json:"epoch"`
	// StoreID is the id of the Store that wrote it.
	StoreID string `json:"store_id"`
	// Created is when the checkpoint's local phase finished.
	Created time.Time `json:"created"`
	// Scopes are the task scopes open in the store at checkpoint time: the
	// checkpoint holds their state (and possibly stale data of others,
	// which restore ignores).
	Scopes []Scope `json:"scopes"`
	// Files are the Pebble files making up the checkpoint.
	Files []ManifestFile `json:"files"`
	// TotalBytes is the size of all Files.
	TotalBytes int64 `json:"total_bytes"`
	// UploadedBytes is what this checkpoint copied to storage; the rest
	// storage already had from earlier checkpoints.
	UploadedBytes int64 `json:"uploaded_bytes"`
	// Duration is how long the checkpoint took, local and upload phases.
	Duration time.Duration `json:"duration_ns"`
}

// ManifestFile is one file of a checkpoint.
type ManifestFile struct {
	// Name is the file's name in the checkpoint directory (000012.sst).
	Name string `json:"name"`
	// Path is the file's name in storage.
	Path string `json:"path"`
	// Size is the file's size in bytes.
	Size int64 `json:"size"`
	// CRC32C is the Castagnoli CRC of the content, verified on restore.
	CRC32C uint32 `json:"crc32c"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ReadManifest reads and decodes the manifest of checkpoint id.
func ReadManifest(ctx context.Context, storage CheckpointStorage, id uint64) (*Manifest, error) {
	data, err := storage.GetManifest(ctx, id)
	if err != nil {
		return nil, err
	}
	m := new(Manifest)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("state: manifest of checkpoint %d: %w: %w", id, ErrCorrupt, err)
	}
	if m.ID != id {
		return nil, fmt.Errorf("state: manifest stored as %d has id %d: %w", id, m.ID, ErrCorrupt)
	}
	return m, nil
}

// LatestCheckpoint returns the manifest of the complete checkpoint with the
// highest id in storage, or an error wrapping ErrNotFound when there is none.
func LatestCheckpoint(ctx context.Context, storage CheckpointStorage) (*Manifest, error) {
	ids, err := storage.ListManifests(ctx)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("state: no complete checkpoint: %w", ErrNotFound)
	}
	return ReadManifest(ctx, storage, ids[len(ids)-1])
}

// immutableFile reports whether a Pebble file never changes once written,
// so storage can share it between checkpoints by name and size.
func immutableFile(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// ReleaseCheckpoint lets Backends that flushed for checkpoint id (or an
// earlier one) write to Pebble again. Checkpoint calls it after its local
// phase; the runtime calls it when it abandons checkpoint id without calling
// Checkpoint, so the Backends' caches do not grow without bound.
func (s *Store) ReleaseCheckpoint(id uint64) {
	s.relMu.Lock()
	defer s.relMu.Unlock()
	if id <= s.released.Load() {
		return
	}
	s.released.Store(id)
	if s.relCh != nil {
		close(s.relCh)
		s.relCh = nil
	}
}

// SetCommitted tells the store that checkpoint id is complete on every
// worker (the coordinator's decision), so it is the one a recovery restores.
// Retention never deletes the committed checkpoint or later ones, even when
// more than Options.Retain of them exist: with several workers, this
// worker's newest checkpoints may not be complete elsewhere. Until it is
// called, retention simply keeps the newest Options.Retain checkpoints,
// which is right for a single worker only. Ids only move forward.
func (s *Store) SetCommitted(id uint64) {
	for {
		cur := s.committed.Load()
		if id <= cur || s.committed.CompareAndSwap(cur, id) {
			return
		}
	}
}

// waitReleased waits until checkpoint id is released.
func (s *Store) waitReleased(ctx context.Context, id uint64) error {
	for {
		s.relMu.Lock()
		if id <= s.released.Load() {
			s.relMu.Unlock()
			return nil
		}
		if s.relCh == nil {
			s.relCh = make(chan struct{})
		}
		ch := s.relCh
		s.relMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Checkpoint takes checkpoint id of the whole store and copies it to
// storage. The runtime calls it once every local task has called
// [Backend.FlushForCheckpoint] for id, from a goroutine other than the
// tasks'; the tasks keep processing meanwhile.
//
// It has two phases. The local phase flushes Pebble's memtable and makes a
// Pebble checkpoint (hard links to the immutable sstables, so it is cheap)
// in a staging directory, then releases the Backends' held writes. The
// upload phase copies to storage only the files storage does not have yet:
// sstables are immutable and their names are unique within the store, so a
// file stored under the same name with the same size is the same file. That
// makes checkpoints incremental: a checkpoint after a small change uploads
// the new sstables only. The manifest is written last. Then retention keeps
// the last Options.Retain checkpoints and deletes files none of them
// references.
//
// Checkpoint returns ErrFenced when storage holds a checkpoint written
// under a higher epoch than the store's, and ErrCheckpointExists when it
// holds one with an id at or above id. Fencing is checked before the
// upload; a newer owner's checkpoint that appears during the upload is
// detected by the next Checkpoint. On any error no manifest is written and
// the checkpoint does not exist; the files it copied are deleted (what a
// failed delete leaves, a later checkpoint's retention deletes).
func (s *Store) Checkpoint(ctx context.Context, id uint64, storage CheckpointStorage) (m *Manifest, err error) {
	start := time.Now()
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	defer func() {
		if err != nil {
			s.metrics.checkpointFailures.Inc()
			err = fmt.Errorf("state: checkpoint %d: %w", id, err)
		}
	}()
	if s.isClosed() {
		s.ReleaseCheckpoint(id)
		return nil, ErrClosed
	}
	epoch := s.epoch.Load()
	prev, err := s.readManifests(ctx, storage)
	if err != nil {
		s.ReleaseCheckpoint(id)
		return nil, err
	}
	for _, p := range prev {
		if p.Epoch > epoch {
			s.ReleaseCheckpoint(id)
			return nil, fmt.Errorf("%w: checkpoint %d has epoch %d, store has %d", ErrFenced, p.ID, p.Epoch, epoch)
		}
		if p.ID >= id {
			s.ReleaseCheckpoint(id)
			return nil, fmt.Errorf("%w: storage has checkpoint %d", ErrCheckpointExists, p.ID)
		}
	}

	// Local phase.
	staging := s.fs.PathJoin(s.dir, stagingDir, fmt.Sprintf("checkpoint-%d", id))
	scopes, err := s.checkpointLocal(staging, id)
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.fs.RemoveAll(staging) }()
	created := time.Now()

	// Upload phase.
	m = &Manifest{ID: id, Epoch: epoch, StoreID: s.id, Created: created.UTC(), Scopes: scopes}
	if err := s.upload(ctx, staging, storage, prev, m); err != nil {
		s.discardUploads(storage, prev, m)
		return nil, err
	}
	m.Duration = time.Since(start)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := storage.PutManifest(ctx, id, data); err != nil {
		s.discardUploads(storage, prev, m)
		return nil, err
	}
	s.metrics.checkpointDuration.Observe(m.Duration.Seconds())
	s.metrics.checkpointBytes.Set(float64(m.TotalBytes))
	s.metrics.checkpointUploaded.Add(float64(m.UploadedBytes))
	s.metrics.checkpointID.Set(float64(id))
	s.metrics.checkpointTime.Set(float64(time.Now().UnixNano()) / 1e9)
	s.log.Debug("checkpoint complete", "checkpoint", id, "epoch", epoch, "files", len(m.Files),
		"total_bytes", m.TotalBytes, "uploaded_bytes", m.UploadedBytes, "duration", m.Duration)
	if err := s.retain(ctx, storage, append(prev, m)); err != nil {
		// The checkpoint is complete; what was not deleted now is deleted
		// by the next checkpoint's retention.
		s.log.Warn("checkpoint retention failed", "checkpoint", id, "err", err)
	}
	return m, nil
}

// checkpointLocal runs the local phase and releases held Backends, whether
// it succeeds or not.
func (s *Store) checkpointLocal(staging string, id uint64) ([]Scope, error) {
	defer s.ReleaseCheckpoint(id)
	_ = s.fs.RemoveAll(staging)
	if err := s.fs.MkdirAll(s.fs.PathDir(staging), 0o755); err != nil {
		return nil, err
	}
	// The WAL is disabled, so the memtable must reach an sstable to be in
	// the checkpoint.
	if err := s.db.Flush(); err != nil {
		return nil, fmt.Errorf("flush memtable: %w", err)
	}
	// Only sstables overlapping the open scopes are needed: stale data of
	// key groups the worker no longer owns is left out.
	scopes := s.scopes()
	var spans []pebble.CheckpointSpan
	for _, sc := range scopes {
		lo, hi := groupSpan(sc.Topology, sc.Component, sc.Groups)
		spans = append(spans, pebble.CheckpointSpan{Start: lo, End: hi})
		lo, hi = operatorSpan(sc.Topology, sc.Component, sc.Task)
		spans = append(spans, pebble.CheckpointSpan{Start: lo, End: hi})
	}
	if err := s.db.Checkpoint(staging, pebble.WithRestrictToSpans(spans)); err != nil {
		return nil, fmt.Errorf("pebble checkpoint: %w", err)
	}
	slices.SortFunc(scopes, func(a, b Scope) int {
		return strings.Compare(a.String(), b.String())
	})
	return scopes, nil
}

// readManifests reads every manifest in storage, ascending by id.
func (s *Store) readManifests(ctx context.Context, storage CheckpointStorage) ([]*Manifest, error) {
	ids, err := storage.ListManifests(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Manifest, 0, len(ids))
	for _, id := range ids {
		m, err := ReadManifest(ctx, storage, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted by a concurrent retention
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// upload copies the staged checkpoint's files that storage lacks and fills
// in m's files and byte counts.
func (s *Store) upload(ctx context.Context, staging string, storage CheckpointStorage, prev []*Manifest, m *Manifest) error {
	names, err := s.fs.List(staging)
	if err != nil {
		return err
	}
	slices.Sort(names)
	stored, err := storage.ListFiles(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]int64, len(stored))
	for _, f := range stored {
		have[f.Name] = f.Size
	}
	known := make(map[string]ManifestFile) // storage path -> entry, from complete checkpoints
	for _, p := range prev {
		for _, f := range p.Files {
			known[f.Path] = f
		}
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		local := s.fs.PathJoin(staging, name)
		info, err := s.fs.Stat(local)
		if err != nil {
			return err
		}
		if info.IsDir() {
			continue
		}
		f := ManifestFile{Name: name, Size: info.Size()}
		if immutableFile(name) {
			f.Path = fmt.Sprintf("sst/%s/%s", s.id, name)
			if k, ok := known[f.Path]; ok && k.Size == f.Size && have[f.Path] == f.Size {
				f.CRC32C = k.CRC32C
				m.Files = append(m.Files, f)
				m.TotalBytes += f.Size
				continue
			}
		} else {
			f.Path = fmt.Sprintf("ckpt/%020d/%s/%s", m.ID, s.id, name)
		}
		if f.CRC32C, err = s.uploadFile(ctx, storage, local, f); err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		m.TotalBytes += f.Size
		m.UploadedBytes += f.Size
	}
	return nil
}

// discardUploads deletes, best effort, the files a failed checkpoint m
// uploaded that no complete checkpoint references. What it misses, the next
// checkpoint's retention deletes.
func (s *Store) discardUploads(storage CheckpointStorage, prev []*Manifest, m *Manifest) {
	referenced := make(map[string]bool)
	for _, p := range prev {
		for _, f := range p.Files {
			referenced[f.Path] = true
		}
	}
	// The checkpoint's ctx may be what failed; cleanup gets its own bound.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, f := range m.Files {
		if !referenced[f.Path] {
			if err := storage.DeleteFile(ctx, f.Path); err != nil {
				s.log.Warn("checkpoint cleanup failed", "checkpoint", m.ID, "file", f.Path, "err", err)
			}
		}
	}
}

func (s *Store) uploadFile(ctx context.Context, storage CheckpointStorage, local string, f ManifestFile) (uint32, error) {
	file, err := s.fs.Open(local)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	h := crc32.New(castagnoli)
	n, err := storage.PutFile(ctx, f.Path, io.TeeReader(io.NewSectionReader(file, 0, f.Size), h))
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", f.Name, err)
	}
	if n != f.Size {
		return 0, fmt.Errorf("upload %s: stored %d bytes of %d", f.Name, n, f.Size)
	}
	return h.Sum32(), nil
}

// retain deletes all but the newest Options.Retain manifests, sparing the
// committed checkpoint and later ones, then every file no kept manifest
// references. all is every manifest in storage,
// ascending by id.
func (s *Store) retain(ctx context.Context, storage CheckpointStorage, all []*Manifest) error {
	committed := s.committed.Load()
	var keep []*Manifest
	for i, m := range all {
		newest := i >= len(all)-s.opts.Retain
		if newest || (committed != 0 && m.ID >= committed) {
			keep = append(keep, m)
			continue
		}
		if err := storage.DeleteManifest(ctx, m.ID); err != nil {
			return err
		}
	}
	referenced := make(map[string]bool)
	for _, m := range keep {
		for _, f := range m.Files {
			referenced[f.Path] = true
		}
	}
	stored, err := storage.ListFiles(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range stored {
		if !referenced[f.Name] {
			errs = append(errs, storage.DeleteFile(ctx, f.Name))
		}
	}
	return errors.Join(errs...)
}
