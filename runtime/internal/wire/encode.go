package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// msgpack format bytes, from the specification.
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFloat32  = 0xca
	mpFloat64  = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt1  = 0xd4
	mpFixExt2  = 0xd5
	mpFixExt4  = 0xd6
	mpFixExt8  = 0xd7
	mpFixExt16 = 0xd8
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf

	extTimestamp = -1
)

// Encoder appends msgpack to B. The zero value is ready to use; set B to a
// reused buffer (B[:0]) to avoid allocations. Methods never fail except
// [Encoder.WriteValue], for values even the fallback cannot encode.
type Encoder struct {
	B []byte
}

// WriteNil appends nil.
func (e *Encoder) WriteNil() { e.B = append(e.B, mpNil) }

// WriteBool appends a bool.
func (e *Encoder) WriteBool(v bool) {
	if v {
		e.B = append(e.B, mpTrue)
	} else {
		e.B = append(e.B, mpFalse)
	}
}

// WriteInt appends v in its smallest msgpack encoding.
func (e *Encoder) WriteInt(v int64) { e.B = appendInt(e.B, v) }

// WriteUint appends v in its smallest msgpack encoding.
func (e *Encoder) WriteUint(v uint64) { e.B = appendUint(e.B, v) }

// WriteFloat32 appends a 32-bit float.
func (e *Encoder) WriteFloat32(v float32) {
	e.B = binary.BigEndian.AppendUint32(append(e.B, mpFloat32), math.Float32bits(v))
}

// WriteFloat64 appends a 64-bit float.
func (e *Encoder) WriteFloat64(v float64) {
	e.B = binary.BigEndian.AppendUint64(append(e.B, mpFloat64), math.Float64bits(v))
}

// WriteString appends a string.
func (e *Encoder) WriteString(s string) { e.B = appendString(e.B, s) }

// The append functions below work on a local slice rather than through the
// Encoder pointer, which lets the compiler keep the slice in registers on
// the hot path.

func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return appendUint(b, uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, mpInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, mpInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, mpUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
}

func appendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n <= 31:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, mpStr8, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, mpStr16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpStr32), uint32(n))
	}
	return append(b, s...)
}

// WriteBytes appends a binary value.
func (e *Encoder) WriteBytes(b []byte) {
	n := len(b)
	switch {
	case n <= math.MaxUint8:
		e.B = append(e.B, mpBin8, byte(n))
	case n <= math.MaxUint16:
		e.B = binary.BigEndian.AppendUint16(append(e.B, mpBin16), uint16(n))
	default:
		e.B = binary.BigEndian.AppendUint32(append(e.B, mpBin32), uint32(n))
	}
	e.B = append(e.B, b...)
}

// WriteArrayHeader appends the header of an array of n elements.
func (e *Encoder) WriteArrayHeader(n int) {
	switch {
	case n <= 15:
		e.B = append(e.B, 0x90|byte(n))
	case n <= math.MaxUint16:
		e.B = binary.BigEndian.AppendUint16(append(e.B, mpArray16), uint16(n))
	default:
		e.B = binary.BigEndian.AppendUint32(append(e.B, mpArray32), uint32(n))
	}
}

// WriteMapHeader appends the header of a map of n pairs.
func (e *Encoder) WriteMapHeader(n int) {
	switch {
	case n <= 15:
		e.B = append(e.B, 0x80|byte(n))
	case n <= math.MaxUint16:
		e.B = binary.BigEndian.AppendUint16(append(e.B, mpMap16), uint16(n))
	default:
		e.B = binary.BigEndian.AppendUint32(append(e.B, mpMap32), uint32(n))
	}
}

// WriteTime appends t as a msgpack timestamp (extension -1), in the
// smallest of its three encodings. The location and monotonic reading are
// not encoded.
func (e *Encoder) WriteTime(t time.Time) {
	sec, nsec := t.Unix(), uint64(t.Nanosecond())
	switch {
	case sec >= 0 && sec>>34 == 0 && nsec == 0 && sec <= math.MaxUint32:
		e.B = binary.BigEndian.AppendUint32(append(e.B, mpFixExt4, 0xff), uint32(sec))
	case sec >= 0 && sec>>34 == 0:
		e.B = binary.BigEndian.AppendUint64(append(e.B, mpFixExt8, 0xff), nsec<<34|uint64(sec))
	default:
		e.B = append(e.B, mpExt8, 12, 0xff)
		e.B = binary.BigEndian.AppendUint32(e.B, uint32(nsec))
		e.B = binary.BigEndian.AppendUint64(e.B, uint64(sec))
	}
}

// WriteValue appends v. See the package documentation for the types encoded
// by hand; others go through github.com/vmihailenco/msgpack/v5, and an
// error wrapping [ErrUnsupported] is returned if it fails too.
func (e *Encoder) WriteValue(v any) error {
	return e.writeValue(v, 0)
}

func (e *Encoder) writeValue(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.WriteNil()
	case string:
		e.WriteString(x)
	case int64:
		e.WriteInt(x)
	case int:
		e.WriteInt(int64(x))
	case bool:
		e.WriteBool(x)
	case float64:
		e.WriteFloat64(x)
	case []byte:
		e.WriteBytes(x)
	case int32:
		e.WriteInt(int64(x))
	case uint64:
		e.WriteUint(x)
	case int8:
		e.WriteInt(int64(x))
	case int16:
		e.WriteInt(int64(x))
	case uint:
		e.WriteUint(uint64(x))
	case uint8:
		e.WriteUint(uint64(x))
	case uint16:
		e.WriteUint(uint64(x))
	case uint32:
		e.WriteUint(uint64(x))
	case uintptr:
		e.WriteUint(uint64(x))
	case float32:
		e.WriteFloat32(x)
	case time.Time:
		e.WriteTime(x)
	case []any:
		if depth >= MaxDepth {
			return ErrTooDeep
		}
		e.WriteArrayHeader(len(x))
		for _, y := range x {
			if err := e.writeValue(y, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if depth >= MaxDepth {
			return ErrTooDeep
		}
		e.WriteMapHeader(len(x))
		for k, y := range x {
			e.WriteString(k)
			if err := e.writeValue(y, depth+1); err != nil {
				return err
			}
		}
	case []string:
		e.WriteArrayHeader(len(x))
		for _, y := range x {
			e.WriteString(y)
		}
	case map[string]string:
		e.WriteMapHeader(len(x))
		for k, y := range x {
			e.WriteString(k)
			e.WriteString(y)
		}
	default:
		b, err := msgpack.Marshal(v)
		if err != nil {
			return fmt.Errorf("%w: %T: %v", ErrUnsupported, v, err)
		}
		e.B = append(e.B, b...)
	}
	return nil
}

// BatchWriter appends a batch frame item by item, without a [Batch]: a
// sender that holds its tuples in another form (the runtime's tuples)
// encodes them straight into the frame. [AppendBatch] is written on it.
// Consecutive tuples with the same destination, source task, stream and
// tracking go into one run item. The zero value is not ready: call Begin.
type BatchWriter struct {
	b     []byte
	start int // where the frame starts in b
	items int // wire items begun

	// The open run, if inRun.
	inRun   bool
	tracked bool
	dest    int32
	source  int32
	stream  string
	list    int // offset of the run's tuple list header
	tuples  int // tuples in the run
}

// Begin starts a batch frame at the end of dst.
func (w *BatchWriter) Begin(dst []byte) {
	// The item count is patched in by Finish: runs count once.
	*w = BatchWriter{b: append(dst, byte(KindBatch), mpArray32, 0, 0, 0, 0), start: len(dst)}
}

// Len returns the bytes written so far, dst included.
func (w *BatchWriter) Len() int { return len(w.b) }

// Finish ends the frame and returns dst with the frame appended.
func (w *BatchWriter) Finish() []byte {
	w.closeRun()
	binary.BigEndian.PutUint32(w.b[w.start+2:], uint32(w.items))
	return w.b
}

// inRunOf reports whether a tuple with these fields continues the open
// run.
func (w *BatchWriter) inRunOf(dest, source int32, stream string, tracked bool) bool {
	return w.inRun && dest == w.dest && source == w.source && tracked == w.tracked && len(stream) == len(w.stream) &&
		(unsafe.StringData(stream) == unsafe.StringData(w.stream) || stream == w.stream)
}

// openRun closes the open run, if any, and opens one for these tuple
// fields.
func (w *BatchWriter) openRun(dest, source int32, stream string, tracked bool) {
	w.closeRun()
	tb := byte(mpFalse)
	if tracked {
		tb = mpTrue
	}
	b := w.b
	if uint32(dest) <= 0x7f && uint32(source) <= 0x7f && len(stream) <= 31 {
		b = append(b, 0x96, byte(KindRun), byte(dest), byte(source), 0xa0|byte(len(stream)))
		b = append(b, stream...)
	} else {
		b = append(b, 0x96, byte(KindRun))
		b = appendInt(b, int64(dest))
		b = appendInt(b, int64(source))
		b = appendString(b, stream)
	}
	b = append(b, tb)
	// The tuple list's length is patched in when the run closes.
	w.list = len(b)
	w.b = append(b, mpArray32, 0, 0, 0, 0)
	w.inRun, w.tracked, w.dest, w.source, w.stream, w.tuples = true, tracked, dest, source, stream, 0
	w.items++
}

func (w *BatchWriter) closeRun() {
	if !w.inRun {
		return
	}
	elems := w.tuples
	if w.tracked {
		elems *= 2
	}
	binary.BigEndian.PutUint32(w.b[w.list+1:], uint32(elems))
	w.inRun, w.stream = false, ""
}

// Tuple appends a tuple. On error (a value even the fallback cannot
// encode) nothing of the tuple is written.
func (w *BatchWriter) Tuple(dest, source int32, stream string, values []any, edges []Edge) error {
	tracked := len(edges) > 0
	if !w.inRunOf(dest, source, stream, tracked) {
		w.openRun(dest, source, stream, tracked)
	}
	// The values are appended inline, to a local slice (see appendValue).
	b := w.b
	if len(values) <= 15 {
		b = append(b, 0x90|byte(len(values)))
	} else {
		b = appendArrayHeader(b, len(values))
	}
	for _, v := range values {
		// Compare type words rather than use a type switch, which would
		// load each type's hash from its descriptor first: one dependent
		// load less per value.
		switch e := (*eface)(unsafe.Pointer(&v)); e.typ {
		case stringType:
			b = appendString(b, *(*string)(e.data))
		case int64Type:
			b = appendInt(b, *(*int64)(e.data))
		case intType:
			b = appendInt(b, int64(*(*int)(e.data)))
		default:
			var err error
			if b, err = appendValue(b, v); err != nil {
				return tupleErr(stream, source, err)
			}
		}
	}
	if tracked {
		b = appendEdges(b, edges)
	}
	w.b = b
	w.tuples++
	return nil
}

// tupleErr wraps an encoding error with the tuple's stream and source. It
// is a function of its own to keep the formatting off Tuple's hot path.
//
//go:noinline
func tupleErr(stream string, source int32, err error) error {
	return fmt.Errorf("wire: stream %s from task %d: %w", stream, source, err)
}

// StringTuple appends a tuple whose one value is s, with no []any to hold
// it.
func (w *BatchWriter) StringTuple(dest, source int32, stream string, s string, edges []Edge) {
	if tracked := len(edges) > 0; !w.inRunOf(dest, source, stream, tracked) {
		w.openRun(dest, source, stream, tracked)
	}
	b := appendString(append(w.b, 0x91), s)
	if w.tracked {
		b = appendEdges(b, edges)
	}
	w.b = b
	w.tuples++
}

// RawTuple appends a tuple whose values are still encoded, as a lazy
// [Decoder] left them: forwarding costs a copy, not a re-encode.
func (w *BatchWriter) RawTuple(dest, source int32, stream string, raw RawValues, edges []Edge) {
	if tracked := len(edges) > 0; !w.inRunOf(dest, source, stream, tracked) {
		w.openRun(dest, source, stream, tracked)
	}
	b := append(appendArrayHeader(w.b, raw.n), raw.b...)
	if w.tracked {
		b = appendEdges(b, edges)
	}
	w.b = b
	w.tuples++
}

// Item appends any item: a tuple as Tuple or RawTuple do (from its Raw
// when its Values are nil), any other in its own encoding.
func (w *BatchWriter) Item(it *Item) error {
	if it.Kind == KindTuple {
		t := &it.Tuple
		if t.Values == nil && t.Raw.n > 0 {
			w.RawTuple(t.Dest, t.SourceTask, t.Stream, t.Raw, t.Edges)
			return nil
		}
		return w.Tuple(t.Dest, t.SourceTask, t.Stream, t.Values, t.Edges)
	}
	w.closeRun()
	e := Encoder{B: w.b}
	if err := e.writeItem(it); err != nil {
		return err
	}
	w.b = e.B
	w.items++
	return nil
}

// appendValue appends a value of a type the hot loops do not handle
// inline. They work on a local slice, not through an Encoder, so that they
// store no slice header through a pointer (each such store costs a write
// barrier while the garbage collector marks).
func appendValue(b []byte, v any) ([]byte, error) {
	e := Encoder{B: b}
	err := e.writeValue(v, 1)
	return e.B, err
}

// appendEdges appends a tracked tuple's edge list.
func appendEdges(b []byte, edges []Edge) []byte {
	b = appendArrayHeader(b, 2*len(edges))
	for _, ed := range edges {
		b = appendUint(b, ed.Root)
		b = appendUint(b, ed.ID)
	}
	return b
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, mpArray32), uint32(n))
}

func (e *Encoder) writeItem(it *Item) error {
	switch it.Kind {
	case KindBarrier:
		e.B = append(e.B, 0x94, byte(KindBarrier))
		e.WriteUint(it.Barrier.Checkpoint)
		e.WriteInt(int64(it.Barrier.SourceTask))
		e.WriteInt(int64(it.Barrier.Dest))
	case KindWatermark:
		e.B = append(e.B, 0x94, byte(KindWatermark))
		e.WriteInt(it.Watermark.Time)
		e.WriteInt(int64(it.Watermark.SourceTask))
		e.WriteInt(int64(it.Watermark.Dest))
	case KindAcker:
		e.B = append(e.B, 0x96, byte(KindAcker))
		e.WriteUint(uint64(it.Acker.Op))
		e.WriteUint(it.Acker.Root)
		e.WriteUint(it.Acker.Value)
		e.WriteInt(int64(it.Acker.SpoutTask))
		e.WriteInt(int64(it.Acker.Dest))
	case KindSpoutDone:
		e.B = append(e.B, 0x94, byte(KindSpoutDone))
		e.WriteUint(it.SpoutDone.Root)
		e.WriteBool(it.SpoutDone.Ok)
		e.WriteInt(int64(it.SpoutDone.Dest))
	default:
		return fmt.Errorf("%w: item kind %v", ErrMalformed, it.Kind)
	}
	return nil
}

// AppendFrame appends the encoding of f (its kind byte, then its body) to
// dst and returns the extended buffer. On error dst is returned unchanged
// in length.
func AppendFrame(dst []byte, f *Frame) ([]byte, error) {
	if f.Kind == KindBatch {
		return AppendBatch(dst, &f.Batch)
	}
	e := Encoder{B: append(dst, byte(f.Kind))}
	switch f.Kind {
	case KindHello:
		e.B = append(e.B, 0x95)
		e.WriteString(f.Hello.Topology)
		e.WriteInt(int64(f.Hello.Worker))
		e.WriteUint(f.Hello.Epoch)
		e.WriteString(f.Hello.Token)
		e.WriteUint(f.Hello.Session)
	case KindCredit:
		e.B = append(e.B, 0x91)
		e.WriteUint(uint64(f.Credit.N))
	case KindRefuse:
		e.B = append(e.B, 0x91)
		e.WriteString(f.Refuse.Reason)
	default:
		return dst, fmt.Errorf("%w: frame kind %v", ErrMalformed, f.Kind)
	}
	return e.B, nil
}

// AppendBatch appends b as a [KindBatch] frame; see [AppendFrame].
// Consecutive tuples with the same destination, source task, stream and
// tracking travel as one run item, which names them once.
func AppendBatch(dst []byte, b *Batch) ([]byte, error) {
	var w BatchWriter
	w.Begin(dst)
	for i := range b.Items {
		if err := w.Item(&b.Items[i]); err != nil {
			return dst, err
		}
	}
	return w.Finish(), nil
}
