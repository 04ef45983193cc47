package wire

import "unsafe"

// Boxing: putting an int64, float64 or string into an interface allocates a
// small object for its data (except for integers 0..255). Decoding a batch
// would cost one allocation per value, which dominated decode time. Instead
// the decoder writes the data into a slot of a chunk allocated per ~512
// values and builds the interface from the slot's address, the layout the
// Go runtime itself uses for interfaces holding non-pointer-shaped types: a
// type word and a pointer to an immutable copy of the value.
//
// This is safe for the garbage collector, which supports interior pointers:
// an interface keeps its slot's whole chunk alive, and a chunk's slots are
// written exactly once, before the interface that points at them exists.
// The cost is retention: one surviving value pins its chunk (4-8 KiB).

// eface is the layout of an empty interface.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	int64Type   = typeOf(int64(0))
	float64Type = typeOf(float64(0))
	stringType  = typeOf("")
	intType     = typeOf(int(0))
)

// slotChunk is the number of slots allocated at once per boxed type.
const slotChunk = 512

// slots hands out single-use slots for boxed values of type T.
type slots[T any] struct {
	free []T
}

func (s *slots[T]) box(typ unsafe.Pointer, v T) any {
	if len(s.free) == 0 {
		s.free = make([]T, slotChunk)
	}
	p := &s.free[0]
	*p = v
	s.free = s.free[1:]
	var out any
	e := (*eface)(unsafe.Pointer(&out))
	e.typ, e.data = typ, unsafe.Pointer(p)
	return out
}

// arena holds the chunks a Decoder carves decoded values from.
type arena struct {
	// anys is the unused tail of the current chunk of value slots; decoded
	// value lists are carved from it with a full slice expression, so an
	// append by the owner reallocates instead of overwriting a neighbour.
	anys []any
	// flat holds the tuples decoded without boxing (see flat.go); the
	// slots below serve the others.
	flat    flatArena
	ints    slots[int64]
	floats  slots[float64]
	strings slots[string]
}

func (d *Decoder) boxInt(v int64) any {
	switch {
	case d.discard:
		return nil
	case d.a == nil, v >= 0 && v < 256: // the runtime boxes 0..255 without allocating
		return v
	}
	return d.a.ints.box(int64Type, v)
}

func (d *Decoder) boxFloat(v float64) any {
	switch {
	case d.discard:
		return nil
	case d.a == nil:
		return v
	}
	return d.a.floats.box(float64Type, v)
}

func (d *Decoder) boxString(s string) any {
	switch {
	case d.discard:
		return nil
	case d.a == nil, s == "":
		return s
	}
	return d.a.strings.box(stringType, s)
}
