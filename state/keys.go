package state

import (
	"encoding/binary"
	"fmt"

	"github.com/gale-stream/gale/internal/keygroup"
)

// Key layout. Every Pebble key the package writes is
//
//	esc(topology) esc(component) group:uint16be esc(name) esc(key) sub
//
// for keyed state, and
//
//	esc(topology) esc(component) 0xFFFF task:uint32be esc(name)
//
// for operator state. esc escapes each 0x00 byte as 0x00 0xFF and ends the
// segment with 0x00 0x01, so segments are prefix-free and byte order of the
// encoding is the order of the segments: the keys of one (topology,
// component) sort together, by key group, and a range of key groups is one
// contiguous span that can be scanned, copied and deleted as a range. sub
// is empty for values, lists and counters; a map entry's sub is its
// msgpack-encoded map key.

const (
	escByte  = 0x00
	escQuote = 0xFF // 0x00 0xFF is a literal 0x00
	escEnd   = 0x01 // 0x00 0x01 ends a segment

	// OperatorGroup is the reserved key-group value under which operator
	// (non-keyed) state is stored. Key groups are therefore below it, and
	// MaxParallelism is at most OperatorGroup.
	OperatorGroup = 0xFFFF

	// MaxMaxParallelism is the largest MaxParallelism a [Scope] may have.
	MaxMaxParallelism = OperatorGroup
)

// AppendRecordKey appends to dst the canonical encoding of a record key
// made of values (the fields a fields grouping groups by, in order): the
// bytes the fields grouping hashes to route a tuple, and the bytes
// [Backend.SetCurrentKey] expects.
func AppendRecordKey(dst []byte, values ...any) []byte {
	for _, v := range values {
		dst = keygroup.AppendKey(dst, v)
	}
	return dst
}

// Key is a decoded state key.
type Key struct {
	Topology  string
	Component string
	// Group is the key group, or OperatorGroup for operator state.
	Group int
	// Task is the task index of operator state; 0 for keyed state.
	Task int
	// Name is the state's name.
	Name string
	// Key is the encoded record key (keyed state only).
	Key []byte
	// Sub is the map entry's encoded key, empty for other kinds.
	Sub []byte
}

// Operator reports whether k is operator state.
func (k Key) Operator() bool { return k.Group == OperatorGroup }

// Append appends the encoding of k to dst.
func (k Key) Append(dst []byte) []byte {
	dst = appendEscaped(dst, k.Topology)
	dst = appendEscaped(dst, k.Component)
	if k.Group == OperatorGroup {
		dst = binary.BigEndian.AppendUint16(dst, OperatorGroup)
		dst = binary.BigEndian.AppendUint32(dst, uint32(k.Task))
		return appendEscaped(dst, k.Name)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(k.Group))
	dst = appendEscaped(dst, k.Name)
	dst = appendEscaped(dst, k.Key)
	return append(dst, k.Sub...)
}

// DecodeKey decodes a key written by Key.Append. It never panics; malformed
// input returns an error wrapping ErrCorrupt. Key and Sub alias b.
func DecodeKey(b []byte) (Key, error) {
	var k Key
	var seg []byte
	var err error
	if seg, b, err = readEscaped(b); err != nil {
		return Key{}, fmt.Errorf("state: decode key: topology: %w", err)
	}
	k.Topology = string(seg)
	if seg, b, err = readEscaped(b); err != nil {
		return Key{}, fmt.Errorf("state: decode key: component: %w", err)
	}
	k.Component = string(seg)
	if len(b) < 2 {
		return Key{}, fmt.Errorf("state: decode key: key group truncated: %w", ErrCorrupt)
	}
	k.Group = int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if k.Group == OperatorGroup {
		if len(b) < 4 {
			return Key{}, fmt.Errorf("state: decode key: operator task truncated: %w", ErrCorrupt)
		}
		k.Task = int(binary.BigEndian.Uint32(b))
		if seg, b, err = readEscaped(b[4:]); err != nil {
			return Key{}, fmt.Errorf("state: decode key: name: %w", err)
		}
		k.Name = string(seg)
		if len(b) != 0 {
			return Key{}, fmt.Errorf("state: decode key: %d trailing bytes after operator state name: %w", len(b), ErrCorrupt)
		}
		return k, nil
	}
	if seg, b, err = readEscaped(b); err != nil {
		return Key{}, fmt.Errorf("state: decode key: name: %w", err)
	}
	k.Name = string(seg)
	if k.Key, b, err = readEscaped(b); err != nil {
		return Key{}, fmt.Errorf("state: decode key: key: %w", err)
	}
	if len(b) > 0 {
		k.Sub = b
	}
	return k, nil
}

func appendEscaped[S string | []byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		dst = append(dst, c)
		if c == escByte {
			dst = append(dst, escQuote)
		}
	}
	return append(dst, escByte, escEnd)
}

// readEscaped reads one escaped segment from b and returns it unescaped and
// the rest of b. The segment aliases b when it holds no escapes.
func readEscaped(b []byte) (seg, rest []byte, err error) {
	var out []byte // nil until the first escape
	start := 0
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			continue
		}
		if i+1 >= len(b) {
			return nil, nil, fmt.Errorf("segment truncated: %w", ErrCorrupt)
		}
		switch b[i+1] {
		case escEnd:
			if out == nil {
				return b[:i:i], b[i+2:], nil
			}
			return append(out, b[start:i]...), b[i+2:], nil
		case escQuote:
			out = append(out, b[start:i+1]...)
			start = i + 2
			i++
		default:
			return nil, nil, fmt.Errorf("bad escape 0x00 0x%02x: %w", b[i+1], ErrCorrupt)
		}
	}
	return nil, nil, fmt.Errorf("unterminated segment: %w", ErrCorrupt)
}

// componentPrefix is the encoding of (topology, component): every key of the
// component starts with it.
func componentPrefix(topology, component string) []byte {
	return appendEscaped(appendEscaped(nil, topology), component)
}

// groupSpan returns the span [start, end) holding every key of key groups
// r of (topology, component).
func groupSpan(topology, component string, r keygroup.Range) (start, end []byte) {
	p := componentPrefix(topology, component)
	start = binary.BigEndian.AppendUint16(append([]byte(nil), p...), uint16(r.Start))
	end = binary.BigEndian.AppendUint16(append([]byte(nil), p...), uint16(r.End))
	return start, end
}

// operatorSpan returns the span holding the operator state of one task.
func operatorSpan(topology, component string, task int) (start, end []byte) {
	p := binary.BigEndian.AppendUint16(componentPrefix(topology, component), OperatorGroup)
	start = binary.BigEndian.AppendUint32(append([]byte(nil), p...), uint32(task))
	if uint32(task) == ^uint32(0) {
		return start, append(p[:len(p):len(p)], 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	}
	end = binary.BigEndian.AppendUint32(append([]byte(nil), p...), uint32(task)+1)
	return start, end
}
