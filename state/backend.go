package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/keygroup"
)

// Backend is one task's access to the Store: the current key, the typed
// state handles, and a write-back cache in front of Pebble.
//
// A Backend belongs to one task goroutine and is not safe for concurrent
// use; the runtime calls SetCurrentKey, the handles and Flush from that
// goroutine only.
//
// # Write-back cache
//
// Reads look in the cache first, then in Pebble, and cache what they find
// (including absence). Writes go only to the cache and mark the entry dirty;
// [Backend.Flush] writes every dirty entry to Pebble in one batch. The task
// therefore always reads its own writes, flushed or not, and a hot key
// updated a thousand times between flushes costs one Pebble write.
//
// The cache is bounded by Options.BackendCacheBytes. When it is full the
// Backend flushes its dirty entries and evicts clean ones. Such a flush
// writes to Pebble state that belongs after the last checkpoint barrier;
// that is harmless as long as no local checkpoint is pending, because a
// checkpoint only ever includes what was in Pebble when it was taken. So at
// a barrier the runtime calls [Backend.FlushForCheckpoint] rather than
// Flush: it flushes and then holds every further write to Pebble in the
// cache, past the bound if need be, until the Store has taken the local part
// of that checkpoint (see [Store.Checkpoint]). A checkpoint thus contains
// exactly the state as of each task's barrier.
type Backend struct {
	store  *Store
	scope  Scope
	log    *slog.Logger
	prefix []byte // componentPrefix(topology, component)

	// Current key.
	keyErr error  // why there is no current key; nil when there is one
	group  uint16 // its key group
	escKey []byte // its escaped bytes

	// cache maps a key without the component prefix (the rest is the same
	// for every key of the Backend) to its entry.
	cache map[string]*entry
	dirty []*entry // dirty entries, each once
	size  int      // approximate bytes held by the cache
	limit int
	// heldShrinkAt is the size at which a held Backend next tries to evict:
	// while a checkpoint is pending, dirty entries cannot go, and scanning
	// the cache on every write would be quadratic, so the trigger doubles.
	heldShrinkAt int

	// holdFor is the checkpoint id the Backend last flushed for; writes to
	// Pebble wait until the store has released that checkpoint.
	holdFor uint64

	kinds   map[string]stateKind
	keyBuf  []byte // cache key scratch
	fullBuf []byte // Pebble key scratch
	closed  bool

	hits, misses                  float64
	writeBytes, cacheHit, cacheMs prometheus.Counter
}

type entry struct {
	key     string // cache key (Pebble key without the component prefix)
	val     []byte // owned by the cache; never handed to callers
	present bool   // false: the key has no value (deleted or never written)
	dirty   bool
}

type stateKind uint8

const (
	kindValue stateKind = iota + 1
	kindMap
	kindList
	kindCounter
	kindOperator
)

func (k stateKind) String() string {
	return [...]string{"?", "value", "map", "list", "counter", "operator"}[k]
}

// entryOverhead approximates the memory of a cache entry beyond its key and
// value bytes.
const entryOverhead = 80

func newBackend(s *Store, scope Scope) *Backend {
	labels := prometheus.Labels{"topology": scope.Topology, "component": scope.Component}
	return &Backend{
		store:      s,
		scope:      scope,
		log:        s.log.With("topology", scope.Topology, "component", scope.Component, "task", scope.Task),
		prefix:     componentPrefix(scope.Topology, scope.Component),
		keyErr:     ErrNoCurrentKey,
		cache:      make(map[string]*entry),
		limit:      s.opts.BackendCacheBytes,
		kinds:      make(map[string]stateKind),
		writeBytes: s.metrics.writeBytes.With(labels),
		cacheHit:   s.metrics.cacheHits.With(labels),
		cacheMs:    s.metrics.cacheMisses.With(labels),
	}
}

// Scope returns the scope the Backend was created for.
func (b *Backend) Scope() Scope { return b.scope }

// SetCurrentKey binds keyed state to key, the canonical encoding of the
// record's key fields made with keygroup.AppendKey (the encoding the fields
// grouping hashes). The Backend copies key. It returns an error wrapping
// ErrKeyGroupOutOfRange, naming the component and task, when the key's group
// is not the task's; until the next successful call, keyed handles then
// return that error.
func (b *Backend) SetCurrentKey(key []byte) error {
	g := keygroup.Of(key, b.scope.MaxParallelism)
	if !b.scope.Groups.Contains(g) {
		b.keyErr = fmt.Errorf("%w: %s/%s task %d owns [%d,%d), key %q is in group %d",
			ErrKeyGroupOutOfRange, b.scope.Topology, b.scope.Component, b.scope.Task,
			b.scope.Groups.Start, b.scope.Groups.End, key, g)
		return b.keyErr
	}
	b.group = uint16(g)
	b.escKey = appendEscaped(b.escKey[:0], key)
	b.keyErr = nil
	return nil
}

// register records that name is used as kind and returns its escaped name.
// Using one name for two kinds of state would mix their keys, so it is a
// bug and panics.
func (b *Backend) register(name string, kind stateKind) []byte {
	if k, ok := b.kinds[name]; ok && k != kind {
		panic(fmt.Sprintf("state: %s/%s: state %q used as %s and as %s",
			b.scope.Topology, b.scope.Component, name, k, kind))
	}
	b.kinds[name] = kind
	return appendEscaped(nil, name)
}

// keyedKey builds the cache key of state name (escaped) for the current key,
// with sub appended: the Pebble key without the component prefix. The result
// is valid until the next call.
func (b *Backend) keyedKey(escName, sub []byte) ([]byte, error) {
	if b.closed {
		return nil, ErrClosed
	}
	if b.keyErr != nil {
		return nil, b.keyErr
	}
	k := binary.BigEndian.AppendUint16(b.keyBuf[:0], b.group)
	k = append(k, escName...)
	k = append(k, b.escKey...)
	k = append(k, sub...)
	b.keyBuf = k
	return k, nil
}

// operatorKey builds the cache key of operator state name (escaped).
func (b *Backend) operatorKey(escName []byte) ([]byte, error) {
	if b.closed {
		return nil, ErrClosed
	}
	k := binary.BigEndian.AppendUint16(b.keyBuf[:0], OperatorGroup)
	k = binary.BigEndian.AppendUint32(k, uint32(b.scope.Task))
	k = append(k, escName...)
	b.keyBuf = k
	return k, nil
}

// lookup returns the cache entry of key, reading Pebble on a miss. The
// returned entry may be evicted by the next write; use it at once.
func (b *Backend) lookup(key []byte) (*entry, error) {
	if e, ok := b.cache[string(key)]; ok {
		b.hits++
		return e, nil
	}
	b.misses++
	if b.store.closing.Load() {
		return nil, ErrClosed
	}
	v, closer, err := b.store.db.Get(b.full(key))
	e := &entry{}
	switch {
	case err == nil:
		e.val = bytes.Clone(v)
		e.present = true
		_ = closer.Close()
	case errors.Is(err, pebble.ErrNotFound):
	case errors.Is(err, pebble.ErrClosed):
		return nil, ErrClosed
	default:
		return nil, fmt.Errorf("state: %s/%s task %d: read: %w", b.scope.Topology, b.scope.Component, b.scope.Task, err)
	}
	if b.over() {
		// Shrink before inserting, so the entry returned stays cached.
		if err := b.shrink(); err != nil {
			return nil, err
		}
	}
	e.key = string(key)
	b.cache[e.key] = e
	b.size += len(e.key) + len(e.val) + entryOverhead
	return e, nil
}

// full returns the Pebble key of a cache key, valid until the next call.
func (b *Backend) full(key []byte) []byte {
	b.fullBuf = append(append(b.fullBuf[:0], b.prefix...), key...)
	return b.fullBuf
}

// markDirty records a write to e (whose key is key) and flushes or evicts
// when the cache is over its bound.
func (b *Backend) markDirty(key []byte, e *entry, oldLen int) error {
	b.size += len(e.val) - oldLen
	if !e.dirty {
		e.dirty = true
		b.dirty = append(b.dirty, e)
	}
	if b.over() {
		return b.shrink()
	}
	return nil
}

// over reports whether the cache should shrink.
func (b *Backend) over() bool {
	return b.size > b.limit && (b.size > b.heldShrinkAt || !b.held())
}

// put sets key to val (owned by the cache from now on).
func (b *Backend) put(key, val []byte) error {
	e, ok := b.cache[string(key)]
	if !ok {
		e = &entry{key: string(key)}
		b.cache[e.key] = e
		b.size += len(e.key) + entryOverhead
	}
	old := len(e.val)
	e.val, e.present = val, true
	return b.markDirty(key, e, old)
}

// del deletes key.
func (b *Backend) del(key []byte) error {
	e, ok := b.cache[string(key)]
	if !ok {
		e = &entry{key: string(key)}
		b.cache[e.key] = e
		b.size += len(e.key) + entryOverhead
	}
	old := len(e.val)
	e.val, e.present = nil, false
	return b.markDirty(key, e, old)
}

// held reports whether writes to Pebble must wait for a pending checkpoint.
func (b *Backend) held() bool { return b.holdFor > b.store.released.Load() }

// shrink flushes and evicts clean entries down to half the bound. While a
// checkpoint is pending it does not flush and evicts only clean entries, so
// the cache may grow past its bound with dirty ones.
func (b *Backend) shrink() error {
	held := b.held()
	if !held {
		if err := b.flush(); err != nil {
			return err
		}
	}
	defer func() {
		if held {
			b.heldShrinkAt = 2 * b.size
		}
	}()
	for k, e := range b.cache { // map order: an approximately random eviction
		if b.size <= b.limit/2 {
			break
		}
		if !e.dirty {
			delete(b.cache, k)
			b.size -= len(k) + len(e.val) + entryOverhead
		}
	}
	return nil
}

// Flush writes every dirty entry to Pebble in one batch (without sync; see
// [Open]). It returns ErrCheckpointPending, writing nothing, while a
// checkpoint this Backend flushed for has not been taken yet (that would
// put post-barrier state into the checkpoint). The runtime calls Flush when
// no checkpoint is pending, at shutdown for instance, and
// FlushForCheckpoint at barriers.
func (b *Backend) Flush() error {
	if b.closed {
		return ErrClosed
	}
	if b.held() {
		return fmt.Errorf("%w: %s/%s task %d flushed for checkpoint %d",
			ErrCheckpointPending, b.scope.Topology, b.scope.Component, b.scope.Task, b.holdFor)
	}
	return b.flush()
}

// FlushForCheckpoint flushes, then holds further writes to Pebble in the
// cache until the Store has taken the local part of checkpoint id (or
// [Store.ReleaseCheckpoint] is called for id or later). The runtime calls it
// when the task aligns the barrier of checkpoint id, before forwarding the
// barrier.
//
// If the local part of the previous checkpoint this Backend flushed for is
// still pending, FlushForCheckpoint first waits for it (normally
// milliseconds), since flushing now would leak this barrier's writes into
// that checkpoint; it returns ctx.Err() if ctx ends first.
func (b *Backend) FlushForCheckpoint(ctx context.Context, id uint64) error {
	if b.closed {
		return ErrClosed
	}
	if err := b.store.waitReleased(ctx, b.holdFor); err != nil {
		return fmt.Errorf("state: %s/%s task %d: flush for checkpoint %d: waiting for checkpoint %d: %w",
			b.scope.Topology, b.scope.Component, b.scope.Task, id, b.holdFor, err)
	}
	if err := b.flush(); err != nil {
		return err
	}
	b.holdFor = id
	return nil
}

func (b *Backend) flush() error {
	b.cacheHit.Add(b.hits)
	b.cacheMs.Add(b.misses)
	b.hits, b.misses = 0, 0
	if len(b.dirty) == 0 {
		return nil
	}
	if b.store.closing.Load() {
		return ErrClosed
	}
	// Sorted keys make the memtable insert cheap: Pebble's skiplist
	// inserter starts each search from the previous key's position.
	slices.SortFunc(b.dirty, func(x, y *entry) int { return strings.Compare(x.key, y.key) })
	batch := b.store.db.NewBatch()
	defer batch.Close()
	n := 0
	for _, e := range b.dirty {
		k := b.full(unsafe.Slice(unsafe.StringData(e.key), len(e.key))) // read only; Set copies
		if e.present {
			_ = batch.Set(k, e.val, nil)
		} else {
			_ = batch.Delete(k, nil)
		}
		n += len(k) + len(e.val)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		if errors.Is(err, pebble.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("state: %s/%s task %d: flush: %w", b.scope.Topology, b.scope.Component, b.scope.Task, err)
	}
	for _, e := range b.dirty {
		e.dirty = false
	}
	clear(b.dirty)
	b.dirty = b.dirty[:0]
	b.writeBytes.Add(float64(n))
	return nil
}

// Close flushes and releases the Backend's scope, so another Backend may
// take it. While a checkpoint it flushed for is pending, Close discards the
// unflushed writes instead: they come after the checkpoint's barrier, and
// recovery replays them. Close may be called more than once.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	var err error
	if b.held() {
		b.log.Warn("state backend closed during a pending checkpoint; discarding unflushed writes",
			"checkpoint", b.holdFor, "entries", len(b.dirty))
	} else {
		err = b.flush()
	}
	b.closed = true
	b.cache = nil
	b.store.release(b)
	return err
}

// iteratePrefix calls fn for every present entry whose cache key starts
// with prefix, in key order, merging the cache's dirty entries over Pebble.
// fn gets cache keys; k and v are valid only during the call. fn returns
// false to stop.
func (b *Backend) iteratePrefix(prefix []byte, fn func(k, v []byte) (bool, error)) error {
	var overs []*entry
	for _, e := range b.dirty {
		if strings.HasPrefix(e.key, string(prefix)) {
			overs = append(overs, e)
		}
	}
	slices.SortFunc(overs, func(x, y *entry) int { return strings.Compare(x.key, y.key) })
	if b.store.closing.Load() {
		return ErrClosed
	}
	lower := bytes.Clone(b.full(prefix))
	it, err := b.store.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return fmt.Errorf("state: %s/%s task %d: iterate: %w", b.scope.Topology, b.scope.Component, b.scope.Task, err)
	}
	defer it.Close()
	strip := len(b.prefix)
	valid := it.First()
	i := 0
	for valid || i < len(overs) {
		var k, v []byte
		fromIter := false
		switch {
		case i < len(overs) && (!valid || strings.Compare(overs[i].key, string(it.Key()[strip:])) <= 0):
			if valid && overs[i].key == string(it.Key()[strip:]) {
				valid = it.Next() // the cache's entry replaces Pebble's
			}
			o := overs[i]
			i++
			if !o.present {
				continue
			}
			k, v = unsafe.Slice(unsafe.StringData(o.key), len(o.key)), o.val
		default:
			k, fromIter = it.Key()[strip:], true
			if v, err = it.ValueAndErr(); err != nil {
				return fmt.Errorf("state: %s/%s task %d: iterate: %w", b.scope.Topology, b.scope.Component, b.scope.Task, err)
			}
		}
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
		if fromIter { // k and v stay valid only until Next
			valid = it.Next()
		}
	}
	return it.Error()
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil when there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
