package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gale-stream/gale/topology"
)

// Provider is what the runtime puts in topology.Context.Services when it
// offers keyed state to a task.
type Provider interface {
	// StateBackend returns the task's Backend. The runtime calls nothing on
	// it concurrently with the task.
	StateBackend() *Backend
}

// BackendOf returns the Backend the runtime offers the task tc describes.
// It returns an error wrapping ErrNoState, naming the component and task,
// when the runtime offers none (for example a runtime started without a
// state directory).
func BackendOf(tc *topology.Context) (*Backend, error) {
	if tc == nil {
		return nil, fmt.Errorf("%w: nil task context", ErrNoState)
	}
	if p, ok := tc.Services.(Provider); ok {
		if b := p.StateBackend(); b != nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w to component %q task %d of topology %q",
		ErrNoState, tc.Component, tc.Task, tc.Topology)
}

func encode(v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("state: encode %T: %w", v, err)
	}
	return b, nil
}

func decode(b []byte, v any) error {
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("state: decode %T: %w: %w", v, ErrCorrupt, err)
	}
	return nil
}

// Value is a single value of type T per key, encoded with msgpack. Create it
// once (in Prepare) with NewValue; it reads and writes the Backend's current
// key.
type Value[T any] struct {
	b    *Backend
	name []byte
}

// NewValue returns the value state called name. Names are per component; one
// name must not be used for two kinds of state (that panics).
func NewValue[T any](b *Backend, name string) *Value[T] {
	return &Value[T]{b: b, name: b.register(name, kindValue)}
}

// Get returns the current key's value, or ErrNotFound.
func (s *Value[T]) Get() (T, error) {
	var v T
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return v, err
	}
	e, err := s.b.lookup(k)
	if err != nil {
		return v, err
	}
	if !e.present {
		return v, ErrNotFound
	}
	err = decode(e.val, &v)
	return v, err
}

// Set sets the current key's value.
func (s *Value[T]) Set(v T) error {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return err
	}
	enc, err := encode(v)
	if err != nil {
		return err
	}
	return s.b.put(k, enc)
}

// Clear deletes the current key's value.
func (s *Value[T]) Clear() error {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return err
	}
	return s.b.del(k)
}

// Map is a map from K to V per key. Each entry is its own Pebble key, so
// Put and Get cost one entry whatever the map's size.
type Map[K comparable, V any] struct {
	b    *Backend
	name []byte
}

// NewMap returns the map state called name.
func NewMap[K comparable, V any](b *Backend, name string) *Map[K, V] {
	return &Map[K, V]{b: b, name: b.register(name, kindMap)}
}

func (s *Map[K, V]) key(k K) ([]byte, error) {
	sub, err := encode(k)
	if err != nil {
		return nil, err
	}
	return s.b.keyedKey(s.name, sub)
}

// Get returns the current key's entry for k, or ErrNotFound.
func (s *Map[K, V]) Get(k K) (V, error) {
	var v V
	key, err := s.key(k)
	if err != nil {
		return v, err
	}
	e, err := s.b.lookup(key)
	if err != nil {
		return v, err
	}
	if !e.present {
		return v, ErrNotFound
	}
	err = decode(e.val, &v)
	return v, err
}

// Put sets the current key's entry for k.
func (s *Map[K, V]) Put(k K, v V) error {
	key, err := s.key(k)
	if err != nil {
		return err
	}
	enc, err := encode(v)
	if err != nil {
		return err
	}
	return s.b.put(key, enc)
}

// Delete deletes the current key's entry for k.
func (s *Map[K, V]) Delete(k K) error {
	key, err := s.key(k)
	if err != nil {
		return err
	}
	return s.b.del(key)
}

// Iterate calls fn for each entry of the current key's map, in the byte
// order of the msgpack encoding of the keys, until fn returns false. fn must
// not modify the map. It costs a scan of the Backend's dirty entries plus a
// Pebble range scan.
func (s *Map[K, V]) Iterate(fn func(k K, v V) bool) error {
	prefix, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return err
	}
	prefix = bytes.Clone(prefix)
	return s.b.iteratePrefix(prefix, func(key, val []byte) (bool, error) {
		var k K
		var v V
		if err := decode(key[len(prefix):], &k); err != nil {
			return false, err
		}
		if err := decode(val, &v); err != nil {
			return false, err
		}
		return fn(k, v), nil
	})
}

// Clear deletes every entry of the current key's map.
func (s *Map[K, V]) Clear() error {
	prefix, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return err
	}
	prefix = bytes.Clone(prefix)
	var keys [][]byte
	if err := s.b.iteratePrefix(prefix, func(key, _ []byte) (bool, error) {
		keys = append(keys, bytes.Clone(key))
		return true, nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.b.del(k); err != nil {
			return err
		}
	}
	return nil
}

// List is an append-only list of T per key, stored as one value (the
// concatenated msgpack encodings of its elements), so Append does not decode
// what is already there. Suited to window buffers of moderate size.
type List[T any] struct {
	b    *Backend
	name []byte
}

// NewList returns the list state called name.
func NewList[T any](b *Backend, name string) *List[T] {
	return &List[T]{b: b, name: b.register(name, kindList)}
}

// Append appends v to the current key's list.
func (s *List[T]) Append(v T) error {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return err
	}
	enc, err := encode(v)
	if err != nil {
		return err
	}
	e, err := s.b.lookup(k)
	if err != nil {
		return err
	}
	old := len(e.val)
	if !e.present {
		e.val = e.val[:0]
	}
	e.val = append(e.val, enc...)
	e.present = true
	return s.b.markDirty(k, e, old)
}

// Get returns the current key's list, empty when it has none.
func (s *List[T]) Get() ([]T, error) {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return nil, err
	}
	e, err := s.b.lookup(k)
	if err != nil || !e.present {
		return nil, err
	}
	var out []T
	d := msgpack.NewDecoder(bytes.NewReader(e.val))
	for {
		var v T
		if err := d.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("state: decode list element %d: %w: %w", len(out), ErrCorrupt, err)
		}
		out = append(out, v)
	}
}

// Clear deletes the current key's list.
func (s *List[T]) Clear() error {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return err
	}
	return s.b.del(k)
}

// Counter is an int64 per key, stored as 8 big-endian bytes (no msgpack);
// Add updates the cached bytes in place.
type Counter struct {
	b    *Backend
	name []byte
}

// NewCounter returns the counter state called name.
func NewCounter(b *Backend, name string) *Counter {
	return &Counter{b: b, name: b.register(name, kindCounter)}
}

// Add adds n to the current key's counter and returns the new value.
func (s *Counter) Add(n int64) (int64, error) {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return 0, err
	}
	e, err := s.b.lookup(k)
	if err != nil {
		return 0, err
	}
	old := len(e.val)
	var v int64
	if e.present {
		if len(e.val) != 8 {
			return 0, fmt.Errorf("state: counter of %d bytes: %w", len(e.val), ErrCorrupt)
		}
		v = int64(binary.BigEndian.Uint64(e.val))
	} else {
		e.val = make([]byte, 8)
		e.present = true
	}
	v += n
	binary.BigEndian.PutUint64(e.val, uint64(v))
	return v, s.b.markDirty(k, e, old)
}

// Get returns the current key's counter, 0 when it has none.
func (s *Counter) Get() (int64, error) {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return 0, err
	}
	e, err := s.b.lookup(k)
	if err != nil || !e.present {
		return 0, err
	}
	if len(e.val) != 8 {
		return 0, fmt.Errorf("state: counter of %d bytes: %w", len(e.val), ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(e.val)), nil
}

// Clear deletes the current key's counter.
func (s *Counter) Clear() error {
	k, err := s.b.keyedKey(s.name, nil)
	if err != nil {
		return err
	}
	return s.b.del(k)
}

// OperatorValue is non-keyed state of one task, such as a spout's source
// offsets. It is stored under the task's index (not a key group), needs no
// current key, and is checkpointed and restored with the task's scope:
// restoring Scope{Task: i} restores what task i of the checkpoint stored.
// After the component's parallelism changes, task i gets old task i's value
// and tasks beyond the old parallelism get none; a spout whose positions
// must be redistributed (Kafka partitions, say) re-derives them, as the
// Kafka spout does from the committed group offsets.
type OperatorValue[T any] struct {
	b    *Backend
	name []byte
}

// NewOperatorValue returns the operator state called name.
func NewOperatorValue[T any](b *Backend, name string) *OperatorValue[T] {
	return &OperatorValue[T]{b: b, name: b.register(name, kindOperator)}
}

// Get returns the task's value, or ErrNotFound.
func (s *OperatorValue[T]) Get() (T, error) {
	var v T
	k, err := s.b.operatorKey(s.name)
	if err != nil {
		return v, err
	}
	e, err := s.b.lookup(k)
	if err != nil {
		return v, err
	}
	if !e.present {
		return v, ErrNotFound
	}
	err = decode(e.val, &v)
	return v, err
}

// Set sets the task's value.
func (s *OperatorValue[T]) Set(v T) error {
	k, err := s.b.operatorKey(s.name)
	if err != nil {
		return err
	}
	enc, err := encode(v)
	if err != nil {
		return err
	}
	return s.b.put(k, enc)
}

// Clear deletes the task's value.
func (s *OperatorValue[T]) Clear() error {
	k, err := s.b.operatorKey(s.name)
	if err != nil {
		return err
	}
	return s.b.del(k)
}
