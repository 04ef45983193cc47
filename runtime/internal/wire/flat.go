package wire

import (
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unsafe"
)

// Flat decoding: how a [ValueDecoder] turns a tuple's values into []any
// without making work for the garbage collector.
//
// Boxing values the ordinary way (or from the typed slot chunks in box.go)
// puts every decoded tuple into pointer-bearing memory: the []any, the
// string headers. At a few million tuples a second that is most of what the
// collector does, and every pointer stored while it marks goes through a
// write barrier, which cost as much as decoding itself.
//
// A tuple made only of scalars, strings, byte slices and timestamps (the
// usual case) is therefore decoded into one chunk of plain bytes, allocated
// without pointers (noscan): its []any slots, the int64, float and time
// values they box, and string and byte-slice headers followed by a copy of
// their bytes. Every pointer written into the chunk points into the chunk
// itself or into static memory (type descriptors, the boxes of small
// integers and bools below), never into another heap object. The collector
// does not scan the chunk, and need not: whatever reaches a value (the
// []any, an interface copied out of it, a string taken from it) holds an
// interior pointer to the chunk, which keeps the whole chunk, and so
// everything its hidden pointers lead to, alive. Go's collector does not
// move heap objects, so the hidden pointers stay valid.
//
// The stores into the chunk are plain word stores (no write barrier is due,
// nothing the collector must see is written). The price: values are copied
// out of the frame (strings and byte slices no longer alias it), and a
// retained value pins its chunk (flatChunk bytes).
//
// The one rule this adds: nobody may store a pointer to other heap memory
// into the returned []any, which the collector would not see. The runtime's
// contract already forbids modifying a tuple's values (topology.Tuple), and
// the slice is returned with len == cap, so append copies it out.
//
// Other values (lists, maps, extension types) make the whole tuple take the
// ordinary path.

// flatChunk is the size of a chunk values are decoded into.
const flatChunk = 32 << 10

// flatMaxTuple bounds the chunk space one tuple may take; larger ones take
// the ordinary path rather than waste most of a chunk.
const flatMaxTuple = flatChunk / 4

// Static boxes: interface values for small integers and bools point here.
var (
	smallInts = func() (t [256]int64) {
		for i := range t {
			t[i] = int64(i) - 128
		}
		return t
	}()
	bools = [2]bool{false, true}
)

var (
	boolType    = typeOf(false)
	uint64Type  = typeOf(uint64(0))
	float32Type = typeOf(float32(0))
	bytesType   = typeOf([]byte(nil))
	timeType    = typeOf(time.Time{})
)

const timeSize = unsafe.Sizeof(time.Time{})

// flatTime says whether a UTC time.Time holds no pointer (its location is
// stored as nil), so it can be copied into a chunk as plain bytes. It is
// checked at start-up rather than assumed.
var flatTime = func() bool {
	const w = unsafe.Sizeof(uintptr(0))
	if timeSize%w != 0 {
		return false
	}
	t := time.Unix(1, 2).UTC()
	words := unsafe.Slice((*uintptr)(unsafe.Pointer(&t)), timeSize/w)
	return words[len(words)-1] == 0 // the location pointer, last in the struct
}()

// flatArena hands out chunk space. The zero value is ready to use.
type flatArena struct {
	chunk []byte // the current chunk; free space starts at off
	off   int
}

// word is the size of a pointer. Everything in a chunk is 8-aligned, and
// an 8-byte value takes an 8-byte slot even where words are smaller.
const word = int(unsafe.Sizeof(uintptr(0)))

// maxSlot is the most a value takes besides the bytes of a string or byte
// slice: a slice header, or an 8-byte slot, or a time.Time.
const maxSlot = 32

func align8(n int) int { return (n + 7) &^ 7 }

// decode decodes r into the chunk, or returns false for values it does not
// handle or bytes that do not decode (a valid RawValues never has bytes
// after its values); the caller then takes the ordinary path, which
// reports errors.
func (a *flatArena) decode(r RawValues) ([]any, bool) {
	vals, end, ok := a.decodeAt(r.b, r.n)
	return vals, ok && end == len(r.b)
}

// decodeAt decodes n values from the start of b (which may go on after
// them) into the chunk, and returns them and how many bytes they took. It
// returns false, having used nothing, for values it does not handle, bytes
// that do not decode, or a tuple too large to be worth a chunk.
func (a *flatArena) decodeAt(b []byte, n int) ([]any, int, bool) {
	if n <= 0 || n*2*word > flatMaxTuple {
		return nil, 0, false
	}
	if len(a.chunk)-a.off < n*2*word+n*maxSlot {
		a.newChunk()
	}
	vals, end, ok := a.decodeIn(b, n)
	if !ok && end < 0 && a.off > 0 {
		// Out of room in a chunk already in use: retry in a new one.
		a.newChunk()
		vals, end, ok = a.decodeIn(b, n)
	}
	return vals, end, ok
}

func (a *flatArena) newChunk() {
	a.chunk = makeNoZero(flatChunk)
	a.off = 0
}

// Value classes for flat decoding, by format byte.
const (
	fcOther   = iota // not decoded flat
	fcFixInt         // positive or negative fixint
	fcFixStr         // fixstr
	fcStr            // str8, str16, str32
	fcBin            // bin8, bin16, bin32
	fcNil            // nil
	fcBool           // false, true
	fcFloat32        // float32
	fcFloat64        // float64
	fcUint           // uint8 .. uint64
	fcInt            // int8 .. int64
	fcTime           // the extension formats a timestamp uses
)

var flatClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c <= 0x7f, c >= 0xe0:
			t[c] = fcFixInt
		case c&0xe0 == 0xa0:
			t[c] = fcFixStr
		case c == mpStr8, c == mpStr16, c == mpStr32:
			t[c] = fcStr
		case c == mpBin8, c == mpBin16, c == mpBin32:
			t[c] = fcBin
		case c == mpNil:
			t[c] = fcNil
		case c == mpFalse, c == mpTrue:
			t[c] = fcBool
		case c == mpFloat32:
			t[c] = fcFloat32
		case c == mpFloat64:
			t[c] = fcFloat64
		case c >= mpUint8 && c <= mpUint64:
			t[c] = fcUint
		case c >= mpInt8 && c <= mpInt64:
			t[c] = fcInt
		case (c == mpFixExt4 || c == mpFixExt8 || c == mpExt8) && flatTime:
			t[c] = fcTime
		}
	}
	return t
}()

// decodeIn is decodeAt within the current chunk. It returns end -1 when the
// chunk ran out of room.
func (a *flatArena) decodeIn(b []byte, n int) ([]any, int, bool) {
	limit := min(len(a.chunk), a.off+flatMaxTuple)
	base := unsafe.Pointer(unsafe.SliceData(a.chunk))
	vals := a.off
	off := vals + align8(n*2*word)
	if off > limit {
		return nil, -1, false
	}
	p := 0
	for i := range n {
		if p >= len(b) {
			return nil, 0, false
		}
		// Room for the largest header or slot and its padding; strings
		// and byte slices check for their bytes too.
		if limit-off < maxSlot {
			return nil, -1, false
		}
		c := b[p]
		var typ, data unsafe.Pointer
		switch flatClass[c] {
		case fcFixInt:
			typ, data = int64Type, unsafe.Pointer(&smallInts[int(int8(c))+128])
			if c <= 0x7f {
				data = unsafe.Pointer(&smallInts[int(c)+128])
			}
			p++
		case fcFixStr, fcStr, fcBin:
			var sl, hl int
			switch c {
			case mpStr8, mpBin8:
				if p+2 > len(b) {
					return nil, 0, false
				}
				sl, hl = int(b[p+1]), 2
			case mpStr16, mpBin16:
				if p+3 > len(b) {
					return nil, 0, false
				}
				sl, hl = int(binary.BigEndian.Uint16(b[p+1:])), 3
			case mpStr32, mpBin32:
				if p+5 > len(b) {
					return nil, 0, false
				}
				sl, hl = int(binary.BigEndian.Uint32(b[p+1:])), 5
			default:
				sl, hl = int(c&0x1f), 1
			}
			if sl < 0 || sl > len(b)-p-hl {
				return nil, 0, false
			}
			if sl > limit-off-maxSlot {
				return nil, -1, false
			}
			p += hl
			isBytes := flatClass[c] == fcBin
			hdr := off
			if isBytes {
				off += align8(3 * word)
			} else {
				off += align8(2 * word)
			}
			ptr := uintptr(0)
			if sl > 0 {
				ptr = uintptr(unsafe.Add(base, off))
				if sl <= 16 && p+16 <= len(b) && off+16 <= len(a.chunk) {
					// Short strings, the usual case: two word moves
					// instead of a call to memmove. They may copy bytes
					// past the string (still inside b) into the padding
					// of its slot (still inside the chunk).
					q, d := b[p:p+16], a.chunk[off:off+16]
					binary.LittleEndian.PutUint64(d, binary.LittleEndian.Uint64(q))
					binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(q[8:]))
				} else {
					copy(a.chunk[off:off+sl], b[p:p+sl])
				}
				off += align8(sl)
			} else if isBytes {
				ptr = uintptr(unsafe.Add(base, hdr)) // empty but not nil, as the ordinary path gives
			}
			p += sl
			h := (*[3]uintptr)(unsafe.Add(base, hdr))
			h[0], h[1] = ptr, uintptr(sl)
			typ, data = stringType, unsafe.Add(base, hdr)
			if isBytes {
				h[2] = uintptr(sl)
				typ = bytesType
			}
		case fcNil:
			p++
		case fcBool:
			typ, data = boolType, unsafe.Pointer(&bools[c-mpFalse])
			p++
		case fcFloat32:
			if p+5 > len(b) {
				return nil, 0, false
			}
			*(*uint32)(unsafe.Add(base, off)) = binary.BigEndian.Uint32(b[p+1:])
			typ, data = float32Type, unsafe.Add(base, off)
			off += 8
			p += 5
		case fcFloat64:
			if p+9 > len(b) {
				return nil, 0, false
			}
			*(*uint64)(unsafe.Add(base, off)) = binary.BigEndian.Uint64(b[p+1:])
			typ, data = float64Type, unsafe.Add(base, off)
			off += 8
			p += 9
		case fcUint, fcInt:
			var v uint64
			switch c {
			case mpUint8, mpInt8:
				if p+2 > len(b) {
					return nil, 0, false
				}
				v = uint64(b[p+1])
				if c == mpInt8 {
					v = uint64(int64(int8(v)))
				}
				p += 2
			case mpUint16, mpInt16:
				if p+3 > len(b) {
					return nil, 0, false
				}
				v = uint64(binary.BigEndian.Uint16(b[p+1:]))
				if c == mpInt16 {
					v = uint64(int64(int16(v)))
				}
				p += 3
			case mpUint32, mpInt32:
				if p+5 > len(b) {
					return nil, 0, false
				}
				v = uint64(binary.BigEndian.Uint32(b[p+1:]))
				if c == mpInt32 {
					v = uint64(int64(int32(v)))
				}
				p += 5
			default: // uint64, int64
				if p+9 > len(b) {
					return nil, 0, false
				}
				v = binary.BigEndian.Uint64(b[p+1:])
				p += 9
			}
			typ = int64Type
			if c == mpUint64 && v > math.MaxInt64 {
				typ = uint64Type
			} else if v+128 < 256 { // -128 <= int64(v) <= 127
				data = unsafe.Pointer(&smallInts[int(int64(v))+128])
				break
			}
			*(*uint64)(unsafe.Add(base, off)) = v
			data = unsafe.Add(base, off)
			off += 8
		case fcTime:
			t, size, ok := flatTimestamp(b[p:])
			if !ok {
				return nil, 0, false
			}
			p += size
			copy(a.chunk[off:off+int(timeSize)], unsafe.Slice((*byte)(unsafe.Pointer(&t)), timeSize))
			typ, data = timeType, unsafe.Add(base, off)
			off += align8(int(timeSize))
		default:
			return nil, 0, false
		}
		e := (*[2]uintptr)(unsafe.Add(base, vals+i*2*word))
		e[0], e[1] = uintptr(typ), uintptr(data)
	}
	a.off = off
	return unsafe.Slice((*any)(unsafe.Add(base, vals)), n), p, true
}

// makeNoZero returns n bytes of pointer-free memory that is not cleared
// first: a chunk is written before any of it is read, so clearing it would
// be wasted work. strings.Builder is
// the standard library's way to such memory; the builder is dropped at
// once, so nothing else sees the bytes.
func makeNoZero(n int) []byte { return MakeNoZero(n) }

// MakeNoZero returns a byte slice of length n whose contents are not
// cleared: for buffers that are overwritten before they are read, such as
// a frame about to be read from a connection.
func MakeNoZero(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0)
	s := sb.String()
	return unsafe.Slice(unsafe.StringData(s), n)
}

// flatTimestamp decodes a timestamp extension at the start of b, returning
// the time in UTC and its encoded size; false for another extension type
// or a malformed one (the ordinary path reports it).
func flatTimestamp(b []byte) (time.Time, int, bool) {
	var hl, n int
	switch b[0] {
	case mpFixExt4:
		hl, n = 2, 4
	case mpFixExt8:
		hl, n = 2, 8
	case mpExt8:
		if len(b) < 3 || b[1] != 12 {
			return time.Time{}, 0, false
		}
		hl, n = 3, 12
	}
	if len(b) < hl+n || int8(b[hl-1]) != extTimestamp {
		return time.Time{}, 0, false
	}
	t, ok := timestampOf(b[hl : hl+n])
	if !ok {
		return time.Time{}, 0, false
	}
	return t, hl + n, true
}
