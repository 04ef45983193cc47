package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/gale-stream/gale/internal/keygroup"
)

// Scope is what one task owns in a Store: its component's state for a range
// of key groups, plus its operator state (stored under its task index).
type Scope struct {
	Topology  string `json:"topology"`
	Component string `json:"component"`
	// Task is the task's index among its component's tasks (not its
	// topology-wide task id): operator state is stored under it.
	Task int `json:"task"`
	// Groups is the range of key groups the task owns.
	Groups keygroup.Range `json:"groups"`
	// MaxParallelism is the topology's number of key groups.
	MaxParallelism int `json:"max_parallelism"`
}

// String describes the scope for errors and logs.
func (s Scope) String() string {
	return fmt.Sprintf("%s/%s[%d] groups [%d,%d) of %d", s.Topology, s.Component, s.Task,
		s.Groups.Start, s.Groups.End, s.MaxParallelism)
}

func (s Scope) validate() error {
	var errs []string
	if s.Topology == "" {
		errs = append(errs, "empty topology")
	}
	if s.Component == "" {
		errs = append(errs, "empty component")
	}
	if s.Task < 0 {
		errs = append(errs, fmt.Sprintf("negative task index %d", s.Task))
	}
	if s.MaxParallelism < 1 || s.MaxParallelism > MaxMaxParallelism {
		errs = append(errs, fmt.Sprintf("max parallelism %d not in [1, %d]", s.MaxParallelism, MaxMaxParallelism))
	}
	if s.Groups.Start < 0 || s.Groups.Start > s.Groups.End || s.Groups.End > s.MaxParallelism {
		errs = append(errs, fmt.Sprintf("key groups [%d,%d) not within [0,%d)", s.Groups.Start, s.Groups.End, s.MaxParallelism))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w %s: %s", ErrInvalidScope, s, strings.Join(errs, "; "))
	}
	return nil
}

// overlaps reports whether s and o share a task's operator state or a key
// group.
func (s Scope) overlaps(o Scope) bool {
	if s.Topology != o.Topology || s.Component != o.Component {
		return false
	}
	return s.Task == o.Task || (s.Groups.Start < o.Groups.End && o.Groups.Start < s.Groups.End)
}

// Store is the keyed state of one worker process: one Pebble database shared
// by every task of the worker, each task using its own [Backend].
//
// A Store is safe for concurrent use. Checkpoint and restore calls are
// serialized.
type Store struct {
	dir     string
	opts    Options
	fs      vfs.FS
	log     *slog.Logger
	db      *pebble.DB
	cache   *pebble.Cache
	id      string // unique per Pebble instance; names its files in storage
	metrics *metrics

	epoch atomic.Uint64
	// released is the highest checkpoint id whose local phase is done: a
	// Backend holding writes for checkpoint n may write to Pebble again once
	// released >= n.
	released atomic.Uint64
	// committed is the newest checkpoint complete on every worker (see
	// SetCommitted); 0 when unknown.
	committed atomic.Uint64
	relMu     sync.Mutex
	relCh     chan struct{} // closed when released grows; guarded by relMu

	// ckptMu serializes Checkpoint, restore, DeleteScopes and Close. Lock
	// order: ckptMu, then mu; relMu nests in neither.
	ckptMu sync.Mutex

	// closing is set when Close begins; Backends check it before touching
	// Pebble, which panics when used after Close.
	closing atomic.Bool

	mu struct {
		sync.Mutex
		closed   bool
		backends map[*Backend]struct{}
	}
}

const (
	dbDir      = "db"
	stagingDir = "staging"
	idFile     = "STORE-ID"
)

// Open opens (or creates) the store in dir.
//
// Pebble runs with the write-ahead log disabled: durability comes from
// checkpoints, not from the local disk. A worker that crashes restarts from
// the last complete checkpoint in storage, which [Store.Restore] copies over
// whatever the local database holds, so logging every write to a WAL would
// only double the write bandwidth of the hot read-modify-write path. Before
// taking a checkpoint the store flushes the memtable, so a checkpoint holds
// only sstables. Close also flushes, so a cleanly closed store reopens with
// everything Backends flushed.
//
// Other tuning for read-modify-write: a shared block cache (CacheSize), a
// large memtable (MemTableSize) so hot keys are overwritten in memory, and
// bloom filters on every level so reads of keys not yet written (the first
// update of each key) skip most sstables.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.EnsureDefaults()
	s := &Store{dir: dir, opts: opts, fs: opts.FS, log: opts.Logger.With("state_dir", dir)}
	s.epoch.Store(opts.Epoch)
	s.mu.backends = make(map[*Backend]struct{})
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	s.cache = pebble.NewCache(opts.CacheSize)
	po := &pebble.Options{
		FS:                          s.fs,
		Cache:                       s.cache,
		MemTableSize:                opts.MemTableSize,
		MemTableStopWritesThreshold: 4,
		DisableWAL:                  true,
		// Every checkpoint flushes the memtable into a new L0 file. Each
		// L0 compaction rewrites the overlapping base-level files, which the
		// next checkpoint must upload again, so a high threshold makes
		// checkpoints more incremental (BenchmarkCheckpoint/incremental
		// uploads about 24% of the store per checkpoint at 8, 11% at 16),
		// at the price of more L0 files for a cache miss to consult; bloom
		// filters keep that cheap.
		L0CompactionThreshold: 16,
		L0StopWritesThreshold: 64,
		Logger:                pebbleLogger{s.log},
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(s.fs.PathJoin(dir, dbDir), po)
	if err != nil {
		s.cache.Unref()
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	s.db = db
	if s.id, err = s.storeID(); err != nil {
		_ = db.Close()
		s.cache.Unref()
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	if s.metrics, err = newMetrics(opts.Registerer, db); err != nil {
		_ = db.Close()
		s.cache.Unref()
		return nil, fmt.Errorf("state: open %s: register metrics: %w", dir, err)
	}
	_ = s.fs.RemoveAll(s.fs.PathJoin(dir, stagingDir)) // leftovers of a crash
	s.log.Info("state store opened", "store_id", s.id)
	return s, nil
}

// storeID reads the store's id, creating it when the database is new. The
// id is tied to the Pebble directory: file numbers restart in a new
// database, so storage names files by store id and file name.
func (s *Store) storeID() (string, error) {
	path := s.fs.PathJoin(s.dir, dbDir, idFile)
	if f, err := s.fs.Open(path); err == nil {
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return "", err
		}
		if id := strings.TrimSpace(string(b)); len(id) == 16 {
			return id, nil
		}
		return "", fmt.Errorf("state: malformed %s: %w", path, ErrCorrupt)
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	f, err := s.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return "", err
	}
	if _, err := f.Write([]byte(id + "\n")); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", err
	}
	return id, f.Close()
}

// ID returns the store's unique id.
func (s *Store) ID() string { return s.id }

// SetEpoch sets the assignment epoch recorded in the checkpoints the store
// writes from now on. The epoch only moves forward; a smaller value is
// ignored. See [ErrFenced].
func (s *Store) SetEpoch(epoch uint64) {
	for {
		cur := s.epoch.Load()
		if epoch <= cur || s.epoch.CompareAndSwap(cur, epoch) {
			return
		}
	}
}

// Epoch returns the store's current epoch.
func (s *Store) Epoch() uint64 { return s.epoch.Load() }

// Task returns a new Backend for one task. It fails with ErrInvalidScope
// for a malformed scope, and with ErrScopeInUse when an open Backend owns
// the same task index or one of the key groups of the same component.
func (s *Store) Task(scope Scope) (*Backend, error) {
	if err := scope.validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, ErrClosed
	}
	for b := range s.mu.backends {
		if b.scope.overlaps(scope) {
			return nil, fmt.Errorf("%w: %s overlaps %s", ErrScopeInUse, scope, b.scope)
		}
	}
	b := newBackend(s, scope)
	s.mu.backends[b] = struct{}{}
	return b, nil
}

// DeleteScopes deletes the state of scopes (their key groups and operator
// state) from the live store. The runtime calls it for key groups the
// worker no longer owns after a reassignment, so their stale data stops
// taking space and stops being uploaded. It fails with ErrScopeInUse if an
// open Backend overlaps one of the scopes.
func (s *Store) DeleteScopes(scopes []Scope) error {
	for _, sc := range scopes {
		if err := sc.validate(); err != nil {
			return err
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
				return fmt.Errorf("state: delete %s: %w by %s", sc, ErrScopeInUse, open)
			}
		}
	}
	if err := s.deleteSpans(scopes); err != nil {
		return fmt.Errorf("state: delete scopes: %w", err)
	}
	return nil
}

// deleteSpans deletes the live key groups and operator state of scopes.
func (s *Store) deleteSpans(scopes []Scope) error {
	del := s.db.NewBatch()
	defer del.Close()
	for _, sc := range scopes {
		lo, hi := groupSpan(sc.Topology, sc.Component, sc.Groups)
		_ = del.DeleteRange(lo, hi, nil)
		lo, hi = operatorSpan(sc.Topology, sc.Component, sc.Task)
		_ = del.DeleteRange(lo, hi, nil)
	}
	return del.Commit(pebble.NoSync)
}

// scopes returns the scopes of the open Backends.
func (s *Store) scopes() []Scope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Scope, 0, len(s.mu.backends))
	for b := range s.mu.backends {
		out = append(out, b.scope)
	}
	return out
}

func (s *Store) release(b *Backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.backends, b)
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

// Close flushes Pebble's memtable and closes the database. Backends must
// be flushed and closed first: Close does not touch them, since each
// belongs to its task's goroutine. A Backend used after Close returns
// ErrClosed, but one used while Close runs may reach a closed Pebble, which
// panics. Close may be called more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	s.closing.Store(true)
	s.mu.Unlock()
	s.ckptMu.Lock() // wait for a running checkpoint or restore
	defer s.ckptMu.Unlock()
	s.metrics.unregister() // no scrape may read the closed database
	var errs []error
	if err := s.db.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("state: flush on close: %w", err))
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("state: close: %w", err))
	}
	s.cache.Unref()
	s.log.Info("state store closed")
	return errors.Join(errs...)
}
