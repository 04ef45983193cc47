// Package keygroup is the one place that maps keys to key groups and key
// groups to tasks. The fields grouping (package runtime) and keyed state
// (package state) both use it, so a key's tuples and its state always meet in
// the same task, in every process of a cluster.
//
// The scheme is Flink's: a key hashes into one of maxParallelism key groups;
// task i of p owns the contiguous range of groups [Start(i), End(i)). When p
// changes, whole key groups move between tasks, and their state with them.
package keygroup

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cespare/xxhash/v2"
)

// AppendKey appends a canonical encoding of v to dst. Equal values encode
// equally whatever their Go integer type, because a value that crossed a
// process boundary may come back as a smaller msgpack type: int(7), int64(7)
// and uint8(7) are one key. Each value is tagged with its kind, so "1" and 1
// differ, and is length-prefixed, so ("ab","c") and ("a","bc") differ.
func AppendKey(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		dst = append(dst, 's')
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		return append(dst, x...)
	case []byte:
		dst = append(dst, 's') // bytes and strings with equal content are one key
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		return append(dst, x...)
	case bool:
		if x {
			return append(dst, 't')
		}
		return append(dst, 'f')
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 'd'), math.Float64bits(x))
	case float32:
		return binary.BigEndian.AppendUint64(append(dst, 'd'), math.Float64bits(float64(x)))
	case nil:
		return append(dst, 'n')
	case int64:
		return appendInt(dst, x)
	case int:
		return appendInt(dst, int64(x))
	case int32:
		return appendInt(dst, int64(x))
	case int16:
		return appendInt(dst, int64(x))
	case int8:
		return appendInt(dst, int64(x))
	case uint64:
		if x > math.MaxInt64 {
			return binary.BigEndian.AppendUint64(append(dst, 'u'), x)
		}
		return appendInt(dst, int64(x))
	case uint:
		return AppendKey(dst, uint64(x))
	case uint32:
		return appendInt(dst, int64(x))
	case uint16:
		return appendInt(dst, int64(x))
	case uint8:
		return appendInt(dst, int64(x))
	case time.Time:
		// The instant only: a time from another worker arrives in UTC
		// and without a monotonic reading, and must key alike.
		dst = binary.BigEndian.AppendUint64(append(dst, 'T'), uint64(x.Unix()))
		return binary.BigEndian.AppendUint32(dst, uint32(x.Nanosecond()))
	case fmt.Stringer:
		return AppendKey(dst, x.String())
	}
	return AppendKey(dst, fmt.Sprintf("%#v", v))
}

func appendInt(dst []byte, x int64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, 'i'), uint64(x))
}

// Hash hashes an encoded key. It is stable across processes and releases.
func Hash(key []byte) uint64 { return xxhash.Sum64(key) }

// Of returns the key group, in [0, maxParallelism), of an encoded key.
func Of(key []byte, maxParallelism int) int {
	return int(Hash(key) % uint64(maxParallelism))
}

// Task returns the index of the task, among parallelism tasks, that owns
// key group g.
func Task(g, parallelism, maxParallelism int) int {
	return g * parallelism / maxParallelism
}

// Range is a half-open range of key groups [Start, End).
type Range struct {
	Start, End int
}

// Contains reports whether g is in r.
func (r Range) Contains(g int) bool { return g >= r.Start && g < r.End }

// Len is the number of key groups in r.
func (r Range) Len() int { return r.End - r.Start }

// RangeOf returns the key groups owned by task index i of parallelism tasks:
// exactly the groups g with Task(g, parallelism, maxParallelism) == i.
func RangeOf(i, parallelism, maxParallelism int) Range {
	// The smallest g with g*p/m >= i is ceil(i*m/p).
	return Range{
		Start: (i*maxParallelism + parallelism - 1) / parallelism,
		End:   ((i+1)*maxParallelism + parallelism - 1) / parallelism,
	}
}
