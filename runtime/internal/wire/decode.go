package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxDepth is the deepest nesting of arrays and maps a tuple value may have.
// The tuple's own value list is level one.
const MaxDepth = 32

// anyChunk is how many value slots the decoder allocates at once; tuples
// with few values share one chunk, so a batch costs a few allocations for
// its value lists instead of one per tuple.
const anyChunk = 1024

// Decoder reads msgpack from a byte slice. Every read checks bounds and
// returns an error wrapping [ErrTruncated] or [ErrMalformed]; none panics.
//
// Strings and byte slices it returns alias the input (see the package
// documentation), so the input must not be modified afterwards. A Decoder is
// not safe for concurrent use; reuse one per connection to amortize its
// scratch space.
type Decoder struct {
	b   []byte
	off int

	// Lazy makes DecodeOwned leave tuple values encoded: each [Tuple] gets
	// Raw (validated, so decoding it cannot fail) and a nil Values. Decode
	// them later, on the goroutine that uses them, with a [ValueDecoder] or
	// the typed accessors of [RawValues]. This keeps the connection's reader
	// from paying for boxing every value.
	Lazy bool

	// discard makes readValue validate without producing values.
	discard bool
	// aliased is set when a decoded value or name aliases the input (see
	// Aliases).
	aliased bool
	// streams interns stream names, so a reused item whose stream did not
	// change is not written (a pointer store costs a write barrier while
	// the collector marks), and names do not pin their frames.
	streams map[string]string
	// edges is the unused tail of the chunk tracked tuples' edge lists are
	// carved from.
	edges []Edge
	// a holds the chunks values are carved from; nil boxes the ordinary
	// way (one-off decodes such as the accessors of RawValues). It is a
	// pointer to keep Decoder small, since accessors make one per call.
	a *arena
}

// maxStreams bounds the stream names a Decoder interns; others alias the
// frame.
const maxStreams = 64

// stream returns name as a string: an interned copy, or aliasing the input
// once maxStreams names are interned.
func (d *Decoder) stream(name []byte) string {
	if s, ok := d.streams[string(name)]; ok {
		return s
	}
	if len(name) == 0 {
		return ""
	}
	if len(d.streams) >= maxStreams {
		d.aliased = true
		return unsafe.String(&name[0], len(name))
	}
	if d.streams == nil {
		d.streams = make(map[string]string)
	}
	s := string(name)
	d.streams[s] = s
	return s
}

// Reset makes d read from b.
func (d *Decoder) Reset(b []byte) {
	d.b, d.off = b, 0
}

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

func errTrunc(what string) error { return fmt.Errorf("%w: %s", ErrTruncated, what) }

func errBad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func (d *Decoder) readByte() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errTrunc("missing value")
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// take returns the next n bytes. n comes from the input, so it is checked
// against what remains before anything is sliced or allocated.
func (d *Decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)-d.off) {
		return nil, errTrunc(fmt.Sprintf("need %d bytes, %d remain", n, len(d.b)-d.off))
	}
	p := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return p, nil
}

func (d *Decoder) u8() (uint64, error) {
	p, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return uint64(p[0]), nil
}

func (d *Decoder) u16() (uint64, error) {
	p, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint16(p)), nil
}

func (d *Decoder) u32() (uint64, error) {
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint32(p)), nil
}

func (d *Decoder) u64() (uint64, error) {
	p, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(p), nil
}

// str returns n bytes as a string aliasing the input.
func (d *Decoder) str(n uint64) (string, error) {
	p, err := d.take(n)
	if err != nil || len(p) == 0 {
		return "", err
	}
	d.aliased = d.aliased || !d.discard
	return unsafe.String(&p[0], len(p)), nil
}

// Aliases reports whether what the last [Decoder.DecodeOwned] call decoded
// references its input other than through [Tuple.Raw]: strings or byte
// slices that were not copied. When it returns false, the input may be
// reused as soon as no Tuple.Raw of the frame is used any more (values
// decoded flat and interned stream names are copies).
func (d *Decoder) Aliases() bool { return d.aliased }

// ReadArrayLen reads an array header. The length is checked against the
// remaining input (each element takes at least one byte).
func (d *Decoder) ReadArrayLen() (int, error) {
	c, err := d.readByte()
	if err != nil {
		return 0, err
	}
	return d.arrayLen(c)
}

func (d *Decoder) arrayLen(c byte) (int, error) {
	var n uint64
	var err error
	switch {
	case c&0xf0 == 0x90:
		n = uint64(c & 0x0f)
	case c == mpArray16:
		n, err = d.u16()
	case c == mpArray32:
		n, err = d.u32()
	default:
		return 0, errBad("want array, got 0x%02x", c)
	}
	if err != nil {
		return 0, err
	}
	if n > uint64(d.Remaining()) {
		return 0, errTrunc(fmt.Sprintf("array of %d elements in %d bytes", n, d.Remaining()))
	}
	return int(n), nil
}

func (d *Decoder) mapLen(c byte) (int, error) {
	var n uint64
	var err error
	switch {
	case c&0xf0 == 0x80:
		n = uint64(c & 0x0f)
	case c == mpMap16:
		n, err = d.u16()
	case c == mpMap32:
		n, err = d.u32()
	default:
		return 0, errBad("want map, got 0x%02x", c)
	}
	if err != nil {
		return 0, err
	}
	if 2*n > uint64(d.Remaining()) {
		return 0, errTrunc(fmt.Sprintf("map of %d pairs in %d bytes", n, d.Remaining()))
	}
	return int(n), nil
}

// ReadString reads a string (aliasing the input).
func (d *Decoder) ReadString() (string, error) {
	c, err := d.readByte()
	if err != nil {
		return "", err
	}
	n, ok, err := d.strLen(c)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errBad("want string, got 0x%02x", c)
	}
	return d.str(n)
}

// strLen returns the length of a string whose format byte is c, and false if
// c is not a string format.
func (d *Decoder) strLen(c byte) (uint64, bool, error) {
	var n uint64
	var err error
	switch {
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c == mpStr8:
		n, err = d.u8()
	case c == mpStr16:
		n, err = d.u16()
	case c == mpStr32:
		n, err = d.u32()
	default:
		return 0, false, nil
	}
	return n, true, err
}

// ReadInt reads any msgpack integer that fits in an int64.
func (d *Decoder) ReadInt() (int64, error) {
	c, err := d.readByte()
	if err != nil {
		return 0, err
	}
	i, u, isU, err := d.integer(c)
	if err != nil {
		return 0, err
	}
	if isU {
		if u > math.MaxInt64 {
			return 0, errBad("integer %d overflows int64", u)
		}
		return int64(u), nil
	}
	return i, nil
}

// ReadUint reads any non-negative msgpack integer.
func (d *Decoder) ReadUint() (uint64, error) {
	c, err := d.readByte()
	if err != nil {
		return 0, err
	}
	i, u, isU, err := d.integer(c)
	if err != nil {
		return 0, err
	}
	if isU {
		return u, nil
	}
	if i < 0 {
		return 0, errBad("negative integer %d where unsigned expected", i)
	}
	return uint64(i), nil
}

func (d *Decoder) readInt32() (int32, error) {
	v, err := d.ReadInt()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, errBad("integer %d overflows int32", v)
	}
	return int32(v), nil
}

// ReadBool reads a bool.
func (d *Decoder) ReadBool() (bool, error) {
	c, err := d.readByte()
	if err != nil {
		return false, err
	}
	switch c {
	case mpTrue:
		return true, nil
	case mpFalse:
		return false, nil
	}
	return false, errBad("want bool, got 0x%02x", c)
}

// integer decodes an integer with format byte c: a signed value in i, or an
// unsigned uint64 in u with isU set (only for values above MaxInt64 or the
// uint64 format). It returns ErrMalformed if c is no integer format.
func (d *Decoder) integer(c byte) (i int64, u uint64, isU bool, err error) {
	switch {
	case c <= 0x7f:
		return int64(c), 0, false, nil
	case c >= 0xe0:
		return int64(int8(c)), 0, false, nil
	}
	var x uint64
	switch c {
	case mpUint8:
		x, err = d.u8()
		return int64(x), 0, false, err
	case mpUint16:
		x, err = d.u16()
		return int64(x), 0, false, err
	case mpUint32:
		x, err = d.u32()
		return int64(x), 0, false, err
	case mpUint64:
		x, err = d.u64()
		if x > math.MaxInt64 {
			return 0, x, true, err
		}
		return int64(x), 0, false, err
	case mpInt8:
		x, err = d.u8()
		return int64(int8(x)), 0, false, err
	case mpInt16:
		x, err = d.u16()
		return int64(int16(x)), 0, false, err
	case mpInt32:
		x, err = d.u32()
		return int64(int32(x)), 0, false, err
	case mpInt64:
		x, err = d.u64()
		return int64(x), 0, false, err
	}
	return 0, 0, false, errBad("want integer, got 0x%02x", c)
}

// allocAnys returns n value slots, carved from a shared chunk when n is small.
func (d *Decoder) allocAnys(n int) []any {
	if d.a == nil || n > anyChunk/8 {
		return make([]any, n)
	}
	a := d.a
	if len(a.anys) < n {
		a.anys = make([]any, anyChunk)
	}
	s := a.anys[:n:n]
	a.anys = a.anys[n:]
	return s
}

// ReadValue reads one value of any type; see the package documentation for
// the Go types values decode to.
func (d *Decoder) ReadValue() (any, error) { return d.readValue(1) }

func (d *Decoder) readValue(depth int) (any, error) {
	start := d.off
	c, err := d.readByte()
	if err != nil {
		return nil, err
	}
	switch {
	case c <= 0x7f:
		return d.boxInt(int64(c)), nil
	case c >= 0xe0:
		return d.boxInt(int64(int8(c))), nil
	case c&0xe0 == 0xa0:
		s, err := d.str(uint64(c & 0x1f))
		return d.boxString(s), err
	case c&0xf0 == 0x90, c == mpArray16, c == mpArray32:
		n, err := d.arrayLen(c)
		if err != nil {
			return nil, err
		}
		return d.readList(n, depth)
	case c&0xf0 == 0x80, c == mpMap16, c == mpMap32:
		n, err := d.mapLen(c)
		if err != nil {
			return nil, err
		}
		return d.readMap(start, n, depth)
	}
	switch c {
	case mpNil:
		return nil, nil
	case mpFalse:
		return false, nil // booleans box without allocating
	case mpTrue:
		return true, nil
	case mpStr8, mpStr16, mpStr32:
		n, _, err := d.strLen(c)
		if err != nil {
			return nil, err
		}
		s, err := d.str(n)
		return d.boxString(s), err
	case mpBin8, mpBin16, mpBin32:
		var n uint64
		switch c {
		case mpBin8:
			n, err = d.u8()
		case mpBin16:
			n, err = d.u16()
		default:
			n, err = d.u32()
		}
		if err != nil {
			return nil, err
		}
		p, err := d.take(n)
		if err != nil || d.discard {
			return nil, err
		}
		d.aliased = true
		return p, nil
	case mpFloat32:
		x, err := d.u32()
		if err != nil || d.discard {
			return nil, err
		}
		return math.Float32frombits(uint32(x)), nil
	case mpFloat64:
		x, err := d.u64()
		return d.boxFloat(math.Float64frombits(x)), err
	case mpUint8, mpUint16, mpUint32, mpUint64, mpInt8, mpInt16, mpInt32, mpInt64:
		i, u, isU, err := d.integer(c)
		if err != nil {
			return nil, err
		}
		if isU && !d.discard {
			return u, nil
		}
		return d.boxInt(i), nil
	case mpFixExt1, mpFixExt2, mpFixExt4, mpFixExt8, mpFixExt16, mpExt8, mpExt16, mpExt32:
		return d.readExt(start, c)
	}
	return nil, errBad("invalid format byte 0x%02x", c)
}

func (d *Decoder) readList(n, depth int) (any, error) {
	if depth >= MaxDepth {
		return nil, ErrTooDeep
	}
	if d.discard {
		for range n {
			if _, err := d.readValue(depth + 1); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	l := make([]any, n)
	for i := range l {
		v, err := d.readValue(depth + 1)
		if err != nil {
			return nil, err
		}
		l[i] = v
	}
	return l, nil
}

// readMap reads a map of n pairs whose header started at start. A map with a
// non-string key is decoded again, whole, by the msgpack fallback.
func (d *Decoder) readMap(start, n, depth int) (any, error) {
	if depth >= MaxDepth {
		return nil, ErrTooDeep
	}
	var m map[string]any
	if !d.discard {
		m = make(map[string]any, n)
	}
	for range n {
		c, err := d.readByte()
		if err != nil {
			return nil, err
		}
		kn, ok, err := d.strLen(c)
		if err != nil {
			return nil, err
		}
		if !ok {
			d.off = start
			return d.fallback(depth)
		}
		k, err := d.str(kn)
		if err != nil {
			return nil, err
		}
		v, err := d.readValue(depth + 1)
		if err != nil {
			return nil, err
		}
		if m != nil {
			m[k] = v
		}
	}
	if m == nil {
		return nil, nil
	}
	return m, nil
}

// extHeader reads the type and data length of an extension with format c.
func (d *Decoder) extHeader(c byte) (typ int8, n uint64, err error) {
	switch c {
	case mpFixExt1:
		n = 1
	case mpFixExt2:
		n = 2
	case mpFixExt4:
		n = 4
	case mpFixExt8:
		n = 8
	case mpFixExt16:
		n = 16
	case mpExt8:
		n, err = d.u8()
	case mpExt16:
		n, err = d.u16()
	case mpExt32:
		n, err = d.u32()
	}
	if err != nil {
		return 0, 0, err
	}
	t, err := d.u8()
	return int8(t), n, err
}

func (d *Decoder) readExt(start int, c byte) (any, error) {
	typ, n, err := d.extHeader(c)
	if err != nil {
		return nil, err
	}
	if typ != extTimestamp {
		d.off = start
		return d.fallback(0)
	}
	p, err := d.take(n)
	if err != nil {
		return nil, err
	}
	if n != 4 && n != 8 && n != 12 {
		return nil, errBad("timestamp of %d bytes", n)
	}
	t, ok := timestampOf(p)
	if !ok {
		return nil, errBad("timestamp nanoseconds out of range")
	}
	if d.discard {
		return nil, nil
	}
	return t, nil
}

// timestampOf decodes the payload of a msgpack timestamp extension: 4, 8
// or 12 bytes (any other length is read as 12). It reports false when the
// nanoseconds are out of range.
func timestampOf(p []byte) (time.Time, bool) {
	var sec int64
	var nsec uint64
	switch len(p) {
	case 4:
		sec = int64(binary.BigEndian.Uint32(p))
	case 8:
		x := binary.BigEndian.Uint64(p)
		sec, nsec = int64(x&(1<<34-1)), x>>34
	default:
		nsec = uint64(binary.BigEndian.Uint32(p))
		sec = int64(binary.BigEndian.Uint64(p[4:]))
	}
	if nsec >= 1e9 {
		return time.Time{}, false
	}
	return time.Unix(sec, int64(nsec)).UTC(), true
}

// fallback decodes the value at d.off with github.com/vmihailenco/msgpack/v5.
// The value's extent is found first with skip, which checks every length, so
// the library only ever sees a complete, bounded value.
func (d *Decoder) fallback(depth int) (v any, err error) {
	d.aliased = true // conservatively: the library may keep slices of raw
	start := d.off
	if err := d.skip(depth); err != nil {
		return nil, err
	}
	raw := d.b[start:d.off]
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, errBad("msgpack fallback: %v", r)
		}
	}()
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	// Only maps with a non-string key come here, so decode maps untyped.
	dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: msgpack fallback: %v", ErrMalformed, err)
	}
	if d.discard {
		return nil, nil
	}
	return v, nil
}

// Skip skips one value of any type.
func (d *Decoder) Skip() error { return d.skip(0) }

func (d *Decoder) skip(depth int) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	c, err := d.readByte()
	if err != nil {
		return err
	}
	switch {
	case c <= 0x7f, c >= 0xe0:
		return nil
	case c&0xe0 == 0xa0:
		_, err = d.take(uint64(c & 0x1f))
		return err
	case c&0xf0 == 0x90, c == mpArray16, c == mpArray32:
		n, err := d.arrayLen(c)
		if err != nil {
			return err
		}
		for range n {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case c&0xf0 == 0x80, c == mpMap16, c == mpMap32:
		n, err := d.mapLen(c)
		if err != nil {
			return err
		}
		for range 2 * n {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	var n uint64
	switch c {
	case mpNil, mpFalse, mpTrue:
		return nil
	case mpBin8, mpStr8, mpUint8, mpInt8:
		if c == mpUint8 || c == mpInt8 {
			n = 1
		} else if n, err = d.u8(); err != nil {
			return err
		}
	case mpBin16, mpStr16, mpUint16, mpInt16:
		if c == mpUint16 || c == mpInt16 {
			n = 2
		} else if n, err = d.u16(); err != nil {
			return err
		}
	case mpBin32, mpStr32, mpUint32, mpInt32, mpFloat32:
		if c == mpBin32 || c == mpStr32 {
			if n, err = d.u32(); err != nil {
				return err
			}
		} else {
			n = 4
		}
	case mpUint64, mpInt64, mpFloat64:
		n = 8
	case mpFixExt1, mpFixExt2, mpFixExt4, mpFixExt8, mpFixExt16, mpExt8, mpExt16, mpExt32:
		if _, n, err = d.extHeader(c); err != nil {
			return err
		}
	default:
		return errBad("invalid format byte 0x%02x", c)
	}
	_, err = d.take(n)
	return err
}

// readValues decodes len(vals) values into vals.
func (d *Decoder) readValues(vals []any) error {
	var err error
	for i := range vals {
		// Inline the commonest value types; readValue does the rest.
		if d.off < len(d.b) {
			switch c := d.b[d.off]; {
			case c <= 0x7f:
				d.off++
				vals[i] = d.boxInt(int64(c))
				continue
			case c&0xe0 == 0xa0:
				if n := int(c & 0x1f); d.off+1+n <= len(d.b) {
					s := ""
					if n > 0 {
						s = unsafe.String(&d.b[d.off+1], n)
						d.aliased = true
					}
					d.off += 1 + n
					vals[i] = d.boxString(s)
					continue
				}
			case c == mpUint32 && d.off+5 <= len(d.b):
				vals[i] = d.boxInt(int64(binary.BigEndian.Uint32(d.b[d.off+1:])))
				d.off += 5
				continue
			case (c == mpUint64 || c == mpInt64) && d.off+9 <= len(d.b):
				if x := binary.BigEndian.Uint64(d.b[d.off+1:]); c == mpInt64 || x <= math.MaxInt64 {
					vals[i] = d.boxInt(int64(x))
					d.off += 9
					continue
				}
			}
		}
		if vals[i], err = d.readValue(1); err != nil {
			return err
		}
	}
	return nil
}

// scalarSizes maps a format byte to the encoded size of a scalar that needs
// no further checks (nil, bool, integer, float, fixstr), or 0.
var scalarSizes = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c <= 0x7f, c >= 0xe0, c == mpNil, c == mpTrue, c == mpFalse:
			t[c] = 1
		case c&0xe0 == 0xa0:
			t[c] = uint8(1 + c&0x1f)
		case c == mpUint8, c == mpInt8:
			t[c] = 2
		case c == mpUint16, c == mpInt16:
			t[c] = 3
		case c == mpUint32, c == mpInt32, c == mpFloat32:
			t[c] = 5
		case c == mpUint64, c == mpInt64, c == mpFloat64:
			t[c] = 9
		}
	}
	return t
}()

// scalarLen returns the encoded size of the value at b[off] if it is a
// scalar that needs no further checks and lies wholly within b, or 0.
func scalarLen(b []byte, off int) int {
	if off < 0 || off >= len(b) {
		return 0
	}
	size := int(scalarSizes[b[off]])
	if size > len(b)-off {
		return 0
	}
	return size
}

// runState is a run item (see [KindRun]) whose tuples are being decoded.
type runState struct {
	dest, source int32
	stream       string
	tracked      bool
	left         int // tuples
	extra        int // fields after the tuples, to skip after the last one
}

// nextItem extends items by one and returns the new item, reusing what the
// slice's capacity holds from an earlier frame without clearing it (the
// readers below overwrite every field they use).
func nextItem(items []Item) ([]Item, *Item) {
	if len(items) < cap(items) {
		items = items[:len(items)+1]
	} else {
		items = append(items, Item{})
	}
	return items, &items[len(items)-1]
}

// readRunHeader reads the fields of a run item after its kind into r; n is
// the item's array length.
func (d *Decoder) readRunHeader(n int, r *runState) error {
	if n < 6 {
		return errBad("run item of %d fields", n)
	}
	var err error
	// Task ids are usually positive fixints and the stream a fixstr.
	if d.off+2 < len(d.b) && d.b[d.off] <= 0x7f && d.b[d.off+1] <= 0x7f && d.b[d.off+2]&0xe0 == 0xa0 {
		r.dest, r.source = int32(d.b[d.off]), int32(d.b[d.off+1])
		d.off += 2
	} else {
		if r.dest, err = d.readInt32(); err != nil {
			return err
		}
		if r.source, err = d.readInt32(); err != nil {
			return err
		}
	}
	c, err := d.readByte()
	if err != nil {
		return err
	}
	sn, ok, err := d.strLen(c)
	if err == nil && !ok {
		err = errBad("want stream name, got 0x%02x", c)
	}
	if err != nil {
		return err
	}
	name, err := d.take(sn)
	if err != nil {
		return err
	}
	r.stream = d.stream(name)
	if r.tracked, err = d.ReadBool(); err != nil {
		return err
	}
	nt, err := d.ReadArrayLen()
	if err != nil {
		return err
	}
	if r.tracked {
		if nt%2 != 0 {
			return errBad("tracked run of %d elements", nt)
		}
		nt /= 2
	}
	// Fields after the tuples (none exist yet) are skipped once the last
	// tuple is read.
	r.left, r.extra = nt, n-6
	return nil
}

// readRun decodes the tuples of run r into new items.
//
// This is the receiving side's hot loop. It keeps the input and the offset
// in locals rather than in d: stores into the items could alias d, so the
// compiler would reload d.off after each of them.
func (d *Decoder) readRun(items []Item, r *runState) ([]Item, error) {
	b, off := d.b, d.off
	for left := r.left; left > 0; left-- {
		var it *Item
		items, it = nextItem(items)
		if it.Kind != KindTuple {
			// A reused item that held a tuple has these zero already;
			// not writing them spares the item's last cache line.
			it.Kind = KindTuple
			it.Barrier, it.Watermark, it.Acker, it.SpoutDone = Barrier{}, Watermark{}, AckerMsg{}, SpoutDone{}
		}
		t := &it.Tuple
		t.Dest, t.SourceTask = r.dest, r.source
		// Stream names are interned, so a reused item usually holds this
		// one already: skip the store (a pointer store costs a write
		// barrier while the collector marks).
		if unsafe.StringData(t.Stream) != unsafe.StringData(r.stream) || len(t.Stream) != len(r.stream) {
			t.Stream = r.stream
		}
		// The value list's header, usually a fixarray.
		var nv int
		if off < len(b) && b[off]&0xf0 == 0x90 {
			nv = int(b[off] & 0x0f)
			off++
		} else {
			d.off = off
			var err error
			if nv, err = d.ReadArrayLen(); err != nil {
				return items, err
			}
			off = d.off
		}
		start := off
		if d.Lazy {
			if t.Values != nil {
				t.Values = nil
			}
			// Validate without decoding: scalars and short strings are
			// stepped over here; anything else is checked by readValue.
			for range nv {
				size := 0
				if off < len(b) {
					c := b[off]
					size = int(scalarSizes[c])
					if (c == mpStr8 || c == mpBin8) && off+1 < len(b) {
						size = 2 + int(b[off+1])
					}
				}
				if size == 0 || size > len(b)-off {
					d.off, d.discard = off, true
					_, err := d.readValue(1)
					d.discard = false
					if err != nil {
						return items, err
					}
					off = d.off
					continue
				}
				off += size
			}
		} else {
			d.off = off
			if vals, size, ok := d.a.flat.decodeAt(b[off:], nv); ok {
				t.Values = vals
				d.off += size
			} else {
				vals := d.allocAnys(nv)
				if err := d.readValues(vals); err != nil {
					return items, err
				}
				t.Values = vals
			}
			off = d.off
		}
		t.Raw = RawValues{b: b[start:off:off], n: nv}
		if r.tracked {
			d.off = off
			if err := d.readEdges(t); err != nil {
				return items, err
			}
			off = d.off
		} else if t.Edges != nil {
			t.Edges = nil
		}
	}
	d.off = off
	return items, d.skipN(r.extra)
}

// edgeChunk is how many edges the decoder allocates at once for the edge
// lists of tracked tuples.
const edgeChunk = 512

// readEdges reads a tracked tuple's edge list into t.Edges.
func (d *Decoder) readEdges(t *Tuple) error {
	ne, err := d.ReadArrayLen()
	if err != nil {
		return err
	}
	if ne%2 != 0 {
		return errBad("odd edge list length %d", ne)
	}
	if ne == 0 {
		if t.Edges != nil {
			t.Edges = nil
		}
		return nil
	}
	n := ne / 2
	var edges []Edge
	if n > edgeChunk/8 {
		edges = make([]Edge, n)
	} else {
		if len(d.edges) < n {
			d.edges = make([]Edge, edgeChunk)
		}
		edges, d.edges = d.edges[:n:n], d.edges[n:]
	}
	for i := range edges {
		if edges[i].Root, err = d.ReadUint(); err != nil {
			return err
		}
		if edges[i].ID, err = d.ReadUint(); err != nil {
			return err
		}
	}
	t.Edges = edges
	return nil
}

func (d *Decoder) skipN(n int) error {
	for range n {
		if err := d.skip(1); err != nil {
			return err
		}
	}
	return nil
}

// readItem reads the next item of a batch into new items of items: one per
// tuple for a run, one for any other item.
func (d *Decoder) readItem(items []Item) ([]Item, error) {
	// Fast path: a run item as this package writes it.
	if d.off+1 < len(d.b) && d.b[d.off] == 0x96 && d.b[d.off+1] == byte(KindRun) {
		d.off += 2
		var r runState
		if err := d.readRunHeader(6, &r); err != nil {
			return items, err
		}
		return d.readRun(items, &r)
	}
	n, err := d.ReadArrayLen()
	if err != nil {
		return items, err
	}
	if n < 1 {
		return items, errBad("empty item")
	}
	k, err := d.ReadUint()
	if err != nil {
		return items, err
	}
	if k > math.MaxUint8 {
		return items, errBad("item kind %d", k)
	}
	switch Kind(k) {
	case KindRun:
		var r runState
		if err := d.readRunHeader(n, &r); err != nil {
			return items, err
		}
		return d.readRun(items, &r)
	case KindTuple:
		return items, errBad("tuple item outside a run")
	}
	items, it := nextItem(items)
	it.Kind = Kind(k)
	it.Barrier, it.Watermark, it.Acker, it.SpoutDone = Barrier{}, Watermark{}, AckerMsg{}, SpoutDone{}
	if it.Tuple.Values != nil || it.Tuple.Stream != "" || it.Tuple.Edges != nil || it.Tuple.Raw.b != nil {
		it.Tuple = Tuple{}
	}
	n-- // fields after the kind
	want := 0
	switch it.Kind {
	case KindBarrier:
		want = 3
		if n < want {
			break
		}
		if it.Barrier.Checkpoint, err = d.ReadUint(); err != nil {
			return items, err
		}
		if it.Barrier.SourceTask, err = d.readInt32(); err != nil {
			return items, err
		}
		if it.Barrier.Dest, err = d.readInt32(); err != nil {
			return items, err
		}
	case KindWatermark:
		want = 3
		if n < want {
			break
		}
		if it.Watermark.Time, err = d.ReadInt(); err != nil {
			return items, err
		}
		if it.Watermark.SourceTask, err = d.readInt32(); err != nil {
			return items, err
		}
		if it.Watermark.Dest, err = d.readInt32(); err != nil {
			return items, err
		}
	case KindAcker:
		want = 5
		if n < want {
			break
		}
		op, err := d.ReadUint()
		if err != nil {
			return items, err
		}
		if op > math.MaxUint8 {
			return items, errBad("acker op %d", op)
		}
		it.Acker.Op = uint8(op)
		if it.Acker.Root, err = d.ReadUint(); err != nil {
			return items, err
		}
		if it.Acker.Value, err = d.ReadUint(); err != nil {
			return items, err
		}
		if it.Acker.SpoutTask, err = d.readInt32(); err != nil {
			return items, err
		}
		if it.Acker.Dest, err = d.readInt32(); err != nil {
			return items, err
		}
	case KindSpoutDone:
		want = 3
		if n < want {
			break
		}
		if it.SpoutDone.Root, err = d.ReadUint(); err != nil {
			return items, err
		}
		if it.SpoutDone.Ok, err = d.ReadBool(); err != nil {
			return items, err
		}
		if it.SpoutDone.Dest, err = d.readInt32(); err != nil {
			return items, err
		}
	default:
		return items, errBad("item kind %v", it.Kind)
	}
	if n < want {
		return items, errBad("%v item of %d fields", it.Kind, n)
	}
	return items, d.skipN(n - want)
}

// DecodeOwned decodes one frame from b into f. b becomes the property of the
// decoded values: strings and byte slices alias it, so the caller must not
// modify or reuse b. f's batch item slice is reused; values from a previous
// decode into f stay valid (they are not overwritten).
//
// Trailing bytes after the frame are an error. On error f holds a partial
// result that must not be used.
func (d *Decoder) DecodeOwned(b []byte, f *Frame) error {
	d.Reset(b)
	d.aliased = false
	if len(b) == 0 {
		return errTrunc("empty frame")
	}
	if d.a == nil && !d.Lazy {
		d.a = new(arena)
	}
	f.Kind = Kind(b[0])
	d.off = 1
	switch f.Kind {
	case KindBatch:
		return d.decodeBatch(f)
	case KindHello:
		n, err := d.ReadArrayLen()
		if err != nil {
			return err
		}
		if n < 4 {
			return errBad("hello of %d fields", n)
		}
		if f.Hello.Topology, err = d.ReadString(); err != nil {
			return err
		}
		w, err := d.ReadInt()
		if err != nil {
			return err
		}
		if w < math.MinInt || w > math.MaxInt || w != int64(int(w)) {
			return errBad("worker %d", w)
		}
		f.Hello.Worker = int(w)
		if f.Hello.Epoch, err = d.ReadUint(); err != nil {
			return err
		}
		if f.Hello.Token, err = d.ReadString(); err != nil {
			return err
		}
		if n >= 5 {
			if f.Hello.Session, err = d.ReadUint(); err != nil {
				return err
			}
			n--
		}
		if err := d.skipN(n - 4); err != nil {
			return err
		}
	case KindCredit:
		n, err := d.ReadArrayLen()
		if err != nil {
			return err
		}
		if n < 1 {
			return errBad("credit of %d fields", n)
		}
		c, err := d.ReadUint()
		if err != nil {
			return err
		}
		if c > math.MaxUint32 {
			return errBad("credit %d", c)
		}
		f.Credit.N = uint32(c)
		if err := d.skipN(n - 1); err != nil {
			return err
		}
	case KindRefuse:
		n, err := d.ReadArrayLen()
		if err != nil {
			return err
		}
		if n < 1 {
			return errBad("refuse of %d fields", n)
		}
		if f.Refuse.Reason, err = d.ReadString(); err != nil {
			return err
		}
		if err := d.skipN(n - 1); err != nil {
			return err
		}
	default:
		return errBad("frame kind %v", f.Kind)
	}
	if d.Remaining() != 0 {
		return errBad("%d trailing bytes after %v frame", d.Remaining(), f.Kind)
	}
	return nil
}

// decodeBatch decodes the body of a batch frame, which d is positioned
// at, into f.Batch, and checks that nothing follows it.
func (d *Decoder) decodeBatch(f *Frame) error {
	n, err := d.ReadArrayLen()
	if err != nil {
		return err
	}
	if d.a == nil && !d.Lazy {
		d.a = new(arena)
	}
	items := f.Batch.Items[:0]
	if cap(items) < n {
		items = make([]Item, 0, n)
	}
	for range n {
		if items, err = d.readItem(items); err != nil {
			f.Batch.Items = items[:0]
			return fmt.Errorf("item %d: %w", len(items), err)
		}
	}
	f.Batch.Items = items
	if d.Remaining() != 0 {
		return errBad("%d trailing bytes after batch frame", d.Remaining())
	}
	return nil
}

// DecodeFrame decodes one frame from b into f. It copies b first, so b may be
// reused as soon as it returns; see [Decoder.DecodeOwned] to avoid the copy.
func DecodeFrame(b []byte, f *Frame) error {
	var d Decoder
	return d.DecodeOwned(bytes.Clone(b), f)
}
