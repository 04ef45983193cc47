package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// RawValues is a tuple's value list still in msgpack, as a [Decoder] in
// [Decoder.Lazy] mode leaves it: n encoded values, aliasing the frame. The
// decoder has validated them, so [ValueDecoder.Decode] does not fail on
// them; the accessors still check everything, since a zero or hand-made
// RawValues is possible.
//
// A RawValues is read-only and may be used from several goroutines at once.
// Its typed accessors decode one value without boxing it, which is the
// cheapest way for a bolt's typed getters to read a tuple that crossed the
// network: nothing is allocated for integers, floats, bools or strings.
type RawValues struct {
	b []byte
	n int
}

// Len returns the number of values.
func (r RawValues) Len() int { return r.n }

// Encoded returns the msgpack encoding of the values, concatenated without
// an array header. It aliases the frame: do not modify it.
func (r RawValues) Encoded() []byte { return r.b }

// offset returns where value i starts. Scalars are stepped over inline;
// anything else is skipped by a Decoder.
func (r RawValues) offset(i int) (int, error) {
	if i < 0 || i >= r.n {
		return 0, fmt.Errorf("%w: value %d of %d", ErrType, i, r.n)
	}
	off := 0
	for ; i > 0; i-- {
		n := scalarLen(r.b, off)
		if n == 0 {
			d := Decoder{b: r.b, off: off}
			if err := d.skip(1); err != nil {
				return 0, err
			}
			n = d.off - off
		}
		off += n
	}
	if off >= len(r.b) {
		return 0, errTrunc("missing value")
	}
	return off, nil
}

// fixed returns the n bytes after the format byte at off, or an error.
func fixed(b []byte, off, n int) ([]byte, error) {
	if n > len(b)-off-1 {
		return nil, errTrunc("value cut short")
	}
	return b[off+1 : off+1+n], nil
}

func typeErr(i int, want string, c byte) error {
	return fmt.Errorf("%w: value %d is not %s (format 0x%02x)", ErrType, i, want, c)
}

// StringAt returns value i as a string, aliasing the frame. A binary value
// is returned as a string too. Other types give an error wrapping [ErrType].
func (r RawValues) StringAt(i int) (string, error) {
	off, err := r.offset(i)
	if err != nil {
		return "", err
	}
	c := r.b[off]
	if c&0xe0 == 0xa0 { // fixstr, the common case
		n := int(c & 0x1f)
		if n > len(r.b)-off-1 {
			return "", errTrunc("string cut short")
		}
		if n == 0 {
			return "", nil
		}
		return unsafe.String(&r.b[off+1], n), nil
	}
	p, err := r.bytesAt(i, off)
	if err != nil || len(p) == 0 {
		return "", err
	}
	return unsafe.String(&p[0], len(p)), nil
}

// BytesAt returns value i as a byte slice, aliasing the frame (do not
// modify it). A string value is returned as its bytes too.
func (r RawValues) BytesAt(i int) ([]byte, error) {
	off, err := r.offset(i)
	if err != nil {
		return nil, err
	}
	return r.bytesAt(i, off)
}

func (r RawValues) bytesAt(i, off int) ([]byte, error) {
	d := Decoder{b: r.b, off: off + 1}
	var n uint64
	var err error
	switch c := r.b[off]; c {
	case mpBin8, mpStr8:
		n, err = d.u8()
	case mpBin16, mpStr16:
		n, err = d.u16()
	case mpBin32, mpStr32:
		n, err = d.u32()
	default:
		if c&0xe0 != 0xa0 {
			return nil, typeErr(i, "a string or bytes", c)
		}
		n = uint64(c & 0x1f)
	}
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

// Int64At returns value i, which must be an integer that fits in an int64.
func (r RawValues) Int64At(i int) (int64, error) {
	off, err := r.offset(i)
	if err != nil {
		return 0, err
	}
	c := r.b[off]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	}
	var p []byte
	switch c {
	case mpUint8, mpInt8:
		p, err = fixed(r.b, off, 1)
	case mpUint16, mpInt16:
		p, err = fixed(r.b, off, 2)
	case mpUint32, mpInt32:
		p, err = fixed(r.b, off, 4)
	case mpUint64, mpInt64:
		p, err = fixed(r.b, off, 8)
	default:
		return 0, typeErr(i, "an integer", c)
	}
	if err != nil {
		return 0, err
	}
	switch c {
	case mpUint8:
		return int64(p[0]), nil
	case mpInt8:
		return int64(int8(p[0])), nil
	case mpUint16:
		return int64(binary.BigEndian.Uint16(p)), nil
	case mpInt16:
		return int64(int16(binary.BigEndian.Uint16(p))), nil
	case mpUint32:
		return int64(binary.BigEndian.Uint32(p)), nil
	case mpInt32:
		return int64(int32(binary.BigEndian.Uint32(p))), nil
	case mpInt64:
		return int64(binary.BigEndian.Uint64(p)), nil
	}
	u := binary.BigEndian.Uint64(p)
	if u > math.MaxInt64 {
		return 0, fmt.Errorf("%w: value %d: %d overflows int64", ErrType, i, u)
	}
	return int64(u), nil
}

// Float64At returns value i, which must be a float or an integer.
func (r RawValues) Float64At(i int) (float64, error) {
	off, err := r.offset(i)
	if err != nil {
		return 0, err
	}
	switch c := r.b[off]; c {
	case mpFloat64:
		p, err := fixed(r.b, off, 8)
		if err != nil {
			return 0, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case mpFloat32:
		p, err := fixed(r.b, off, 4)
		if err != nil {
			return 0, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(p))), nil
	case mpUint64:
		p, err := fixed(r.b, off, 8)
		if err != nil {
			return 0, err
		}
		return float64(binary.BigEndian.Uint64(p)), nil
	}
	v, err := r.Int64At(i)
	if errors.Is(err, ErrType) {
		return 0, typeErr(i, "a number", r.b[off])
	}
	return float64(v), err
}

// BoolAt returns value i, which must be a bool.
func (r RawValues) BoolAt(i int) (bool, error) {
	off, err := r.offset(i)
	if err != nil {
		return false, err
	}
	switch c := r.b[off]; c {
	case mpTrue:
		return true, nil
	case mpFalse:
		return false, nil
	default:
		return false, typeErr(i, "a bool", c)
	}
}

// At decodes value i into an interface value, as [ValueDecoder.Decode]
// would, but boxing it the ordinary way.
func (r RawValues) At(i int) (any, error) {
	off, err := r.offset(i)
	if err != nil {
		return nil, err
	}
	d := Decoder{b: r.b, off: off} // no arena: ordinary boxing
	return d.readValue(1)
}

// String formats the values for debugging.
func (r RawValues) String() string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range r.n {
		if i > 0 {
			sb.WriteByte(' ')
		}
		v, err := r.At(i)
		if err != nil {
			fmt.Fprintf(&sb, "<%v>", err)
			break
		}
		fmt.Fprint(&sb, v)
	}
	sb.WriteByte(']')
	return sb.String()
}

// ValueDecoder turns [RawValues] into []any. It carves values from chunks
// it allocates now and then, so keep one per goroutine (per task executor,
// say) rather than one per tuple. It is not safe for concurrent use.
type ValueDecoder struct {
	d Decoder
}

// Decode returns r's values. The slice and the values are the caller's, but
// the slice must not be modified (see flat.go: it may live in memory the
// garbage collector does not scan). Strings and byte slices are copies or
// alias the frame r came from; either way, do not modify them.
func (vd *ValueDecoder) Decode(r RawValues) ([]any, error) {
	if vd.d.a == nil {
		vd.d.a = new(arena)
	}
	if vals, ok := vd.d.a.flat.decode(r); ok {
		return vals, nil
	}
	vd.d.Reset(r.b)
	vals := vd.d.allocAnys(r.n)
	if err := vd.d.readValues(vals); err != nil {
		return nil, err
	}
	if vd.d.Remaining() != 0 {
		return nil, errBad("%d bytes after %d values", vd.d.Remaining(), r.n)
	}
	return vals, nil
}
