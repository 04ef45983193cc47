package runtime

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/topology"
)

// The typed getters of a tuple that came from another worker with its
// values still encoded (lazyRaw). They read one value from the frame with
// the accessors of wire.RawValues, allocating nothing for numbers, bools
// and strings, and behave exactly as topology.TupleData's getters do on the
// values an eager decoder would have produced: the same types accepted, the
// same results, the same *topology.FieldError panics (with the offending
// value, decoded, in Got). TestRawGettersMatchTupleData holds them to it.
//
// What a value decodes to (wire's decoder): every integer that fits in an
// int64 becomes an int64 and a larger one a uint64, a float32 a float32, a
// float64 a float64, a str a string and a bin a []byte. So Int64 takes any
// integer but one above math.MaxInt64; Float64 takes floats and the same
// integers; String and Bytes take both str and bin; Bool takes bools.

// rawIndex returns the index of field, panicking as TupleData's getters do
// when the stream has no such field or the tuple no such value.
func (t *tuple) rawIndex(field string) int {
	i := t.Origin.Fields.Index(field)
	if i < 0 || i >= t.raw().Len() {
		panic(&topology.FieldError{Source: t.Origin.Component, Stream: t.Origin.Stream, Field: field, Index: i})
	}
	return i
}

// rawAt checks index i as TupleData's getters by index do.
func (t *tuple) rawAt(i int) int {
	if i < 0 || i >= t.raw().Len() {
		panic(&topology.FieldError{Source: t.Origin.Component, Stream: t.Origin.Stream, Index: i})
	}
	return i
}

// rawWrong returns the panic value of a getter that wanted another type
// than value i holds. Got is the value as an eager decoder would have
// boxed it; this path may allocate.
func (t *tuple) rawWrong(i int, field, want string) *topology.FieldError {
	got, _ := t.raw().At(i) // validated: At cannot fail
	return &topology.FieldError{Source: t.Origin.Component, Stream: t.Origin.Stream, Field: field, Index: i, Want: want, Got: got}
}

func (t *tuple) rawString(i int, field string) string {
	s, err := t.raw().StringAt(i)
	if err != nil {
		panic(t.rawWrong(i, field, "string"))
	}
	return s
}

func (t *tuple) rawInt64(i int, field string) int64 {
	n, err := t.raw().Int64At(i)
	if err != nil {
		panic(t.rawWrong(i, field, "int64"))
	}
	return n
}

// twoTo63 is the least float64 a uint64 above math.MaxInt64 converts to.
const twoTo63 = float64(1 << 63)

func (t *tuple) rawFloat64(i int, field string) float64 {
	r := t.raw()
	f, err := r.Float64At(i)
	if err != nil {
		panic(t.rawWrong(i, field, "float64"))
	}
	if f >= twoTo63 {
		// RawValues converts a uint64 above math.MaxInt64 too, but
		// TupleData.Float64 refuses it (topology.ToInt64 does), so tell
		// it from a float that large, on this rare path only.
		if v, _ := r.At(i); v != nil {
			if _, ok := v.(uint64); ok {
				panic(t.rawWrong(i, field, "float64"))
			}
		}
	}
	return f
}

func (t *tuple) rawBool(i int, field string) bool {
	b, err := t.raw().BoolAt(i)
	if err != nil {
		panic(t.rawWrong(i, field, "bool"))
	}
	return b
}

// rawBytes returns value i as bytes. A bin value is returned aliasing the
// frame, as TupleData returns a []byte value itself; a str value is copied,
// as TupleData.Bytes copies a string: the bolt may modify that slice, and
// modifying the frame would change the strings that alias it (map keys,
// say).
func (t *tuple) rawBytes(i int, field string) []byte {
	r := t.raw()
	p, err := r.BytesAt(i)
	if err != nil {
		panic(t.rawWrong(i, field, "[]byte"))
	}
	if len(p) > 0 && encodedAsStr(r, p) {
		return []byte(string(p))
	}
	return p
}

// msgpack formats of strings and binaries.
const (
	mpBin8, mpBin16, mpBin32 = 0xc4, 0xc5, 0xc6
	mpStr8, mpStr16, mpStr32 = 0xd9, 0xda, 0xdb
)

// encodedAsStr reports whether p, the non-empty content of a str or bin
// value of r as RawValues.BytesAt returns it (aliasing r's encoding), was
// encoded as a str. RawValues has no accessor for a value's format, so it
// reads the header just before p: fixstr (1 byte), str8/bin8 (2), str16/
// bin16 (3) or str32/bin32 (5). The length each header holds must equal
// len(p), which rules out reading a longer header's length bytes as a
// shorter header: a str8/bin8 length byte is a fixstr byte (0xa0-0xbf)
// only for lengths of 160 and up, which a fixstr (up to 31) cannot have,
// and the high bytes of a 16- or 32-bit length are zero for a length that
// fits the shorter header.
func encodedAsStr(r *wire.RawValues, p []byte) bool {
	enc := r.Encoded()
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(p))) - uintptr(unsafe.Pointer(unsafe.SliceData(enc))))
	n := len(p)
	if off < 1 || off+n > len(enc) {
		return false // not within the encoding: cannot happen
	}
	if n <= 31 && enc[off-1] == 0xa0|byte(n) {
		return true
	}
	if off >= 2 && n <= math.MaxUint8 && int(enc[off-1]) == n {
		if c := enc[off-2]; c == mpStr8 || c == mpBin8 {
			return c == mpStr8
		}
	}
	if off >= 3 && n <= math.MaxUint16 && int(binary.BigEndian.Uint16(enc[off-2:])) == n {
		if c := enc[off-3]; c == mpStr16 || c == mpBin16 {
			return c == mpStr16
		}
	}
	if off >= 5 && uint64(n) <= math.MaxUint32 && int(binary.BigEndian.Uint32(enc[off-4:])) == n {
		if c := enc[off-5]; c == mpStr32 || c == mpBin32 {
			return c == mpStr32
		}
	}
	return false
}
