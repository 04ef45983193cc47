package wire

import (
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

// at returns a decoder positioned at value i.
func (r RawValues) at(i int) (Decoder, error) {
	if i < 0 || i >= r.n {
		return Decoder{}, fmt.Errorf("%w: value %d of %d", ErrType, i, r.n)
	}
	d := Decoder{b: r.b}
	for range i {
		if size := d.scalarSize(); size > 0 {
			d.off += size
			continue
		}
		if err := d.skip(1); err != nil {
			return d, err
		}
	}
	return d, nil
}

func typeErr(i int, want string, c byte) error {
	return fmt.Errorf("%w: value %d is not %s (format 0x%02x)", ErrType, i, want, c)
}

// peek returns the format byte of the value at d's position.
func (d *Decoder) peek() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errTrunc("missing value")
	}
	return d.b[d.off], nil
}

// StringAt returns value i as a string, aliasing the frame. A binary value
// is returned as a string too. Other types give an error wrapping [ErrType].
func (r RawValues) StringAt(i int) (string, error) {
	d, err := r.at(i)
	if err != nil {
		return "", err
	}
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	switch c {
	case mpBin8, mpBin16, mpBin32:
		b, err := r.BytesAt(i)
		if err != nil || len(b) == 0 {
			return "", err
		}
		return unsafe.String(&b[0], len(b)), nil
	}
	d.off++
	n, ok, err := d.strLen(c)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", typeErr(i, "a string", c)
	}
	return d.str(n)
}

// BytesAt returns value i as a byte slice, aliasing the frame (do not
// modify it). A string value is returned as its bytes too.
func (r RawValues) BytesAt(i int) ([]byte, error) {
	d, err := r.at(i)
	if err != nil {
		return nil, err
	}
	c, err := d.readByte()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch c {
	case mpBin8:
		n, err = d.u8()
	case mpBin16:
		n, err = d.u16()
	case mpBin32:
		n, err = d.u32()
	default:
		var ok bool
		if n, ok, err = d.strLen(c); err == nil && !ok {
			return nil, typeErr(i, "bytes", c)
		}
	}
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

// Int64At returns value i, which must be an integer that fits in an int64.
func (r RawValues) Int64At(i int) (int64, error) {
	d, err := r.at(i)
	if err != nil {
		return 0, err
	}
	c, err := d.readByte()
	if err != nil {
		return 0, err
	}
	v, u, isU, err := d.integer(c)
	if err != nil {
		return 0, typeErr(i, "an integer", c)
	}
	if isU {
		return 0, fmt.Errorf("%w: value %d: %d overflows int64", ErrType, i, u)
	}
	return v, nil
}

// Float64At returns value i, which must be a float or an integer.
func (r RawValues) Float64At(i int) (float64, error) {
	d, err := r.at(i)
	if err != nil {
		return 0, err
	}
	c, err := d.readByte()
	if err != nil {
		return 0, err
	}
	switch c {
	case mpFloat64:
		x, err := d.u64()
		return math.Float64frombits(x), err
	case mpFloat32:
		x, err := d.u32()
		return float64(math.Float32frombits(uint32(x))), err
	}
	v, u, isU, err := d.integer(c)
	if err != nil {
		return 0, typeErr(i, "a number", c)
	}
	if isU {
		return float64(u), nil
	}
	return float64(v), nil
}

// BoolAt returns value i, which must be a bool.
func (r RawValues) BoolAt(i int) (bool, error) {
	d, err := r.at(i)
	if err != nil {
		return false, err
	}
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	if c != mpTrue && c != mpFalse {
		return false, typeErr(i, "a bool", c)
	}
	return c == mpTrue, nil
}

// At decodes value i into an interface value, as [ValueDecoder.Decode]
// would, but boxing it the ordinary way.
func (r RawValues) At(i int) (any, error) {
	d, err := r.at(i)
	if err != nil {
		return nil, err
	}
	return d.readValue(1) // d.a is nil: ordinary boxing
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

// Decode returns r's values. The slice and the values are the caller's;
// strings and byte slices alias the frame r came from.
func (vd *ValueDecoder) Decode(r RawValues) ([]any, error) {
	if vd.d.a == nil {
		vd.d.a = new(arena)
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
