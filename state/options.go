package state

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a [Store]. The zero value of every field means "use
// the default" named in its comment.
type Options struct {
	// FS is the file system Pebble and the checkpoint staging directories
	// use. Default vfs.Default. Tests inject faults with pebble's
	// vfs/errorfs or run in memory with vfs.NewMem.
	FS vfs.FS

	// Logger receives the store's lifecycle logs and Pebble's own logs.
	// Default slog.Default().
	Logger *slog.Logger

	// Registerer registers the store's metrics, including Pebble's
	// DB.Metrics() exported at scrape time. Default: no metrics.
	Registerer prometheus.Registerer

	// CacheSize is the size in bytes of Pebble's block cache, shared by every
	// task of the worker. Default 256 MiB.
	CacheSize int64

	// MemTableSize is the size in bytes of one Pebble memtable. Default
	// 64 MiB. Large memtables absorb repeated updates of hot keys before
	// they reach an sstable.
	MemTableSize uint64

	// BackendCacheBytes bounds each Backend's write-back cache (keys plus
	// values, approximately). Default 8 MiB. See [Backend] for what happens
	// when it fills.
	BackendCacheBytes int

	// Retain is the number of complete checkpoints kept in storage by
	// [Store.Checkpoint]; older ones, and files no kept checkpoint
	// references, are deleted. Default 3.
	Retain int

	// Epoch is the assignment epoch the store starts with; see
	// [Store.SetEpoch]. Default 0.
	Epoch uint64
}

const (
	defaultCacheSize         = 256 << 20
	defaultMemTableSize      = 64 << 20
	defaultBackendCacheBytes = 8 << 20
	defaultRetain            = 3
)

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CacheSize == 0 {
		o.CacheSize = defaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = defaultMemTableSize
	}
	if o.BackendCacheBytes == 0 {
		o.BackendCacheBytes = defaultBackendCacheBytes
	}
	if o.Retain == 0 {
		o.Retain = defaultRetain
	}
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("state: CacheSize %d is negative", o.CacheSize))
	}
	if o.MemTableSize != 0 && o.MemTableSize < 1<<20 {
		errs = append(errs, fmt.Errorf("state: MemTableSize %d is below 1 MiB", o.MemTableSize))
	}
	if o.MemTableSize >= 4<<30 {
		errs = append(errs, fmt.Errorf("state: MemTableSize %d is 4 GiB or more", o.MemTableSize))
	}
	if o.BackendCacheBytes < 0 {
		errs = append(errs, fmt.Errorf("state: BackendCacheBytes %d is negative", o.BackendCacheBytes))
	}
	if o.Retain < 0 {
		errs = append(errs, fmt.Errorf("state: Retain %d is negative", o.Retain))
	}
	return errors.Join(errs...)
}
