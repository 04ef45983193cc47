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

// boxer boxes decoded values without an allocation each.
type boxer struct {
	ints    slots[int64]
	floats  slots[float64]
	strings slots[string]

	// discard makes every method return nil: the decoder only validates.
	discard bool
	// plain boxes the ordinary way, for one-off decodes that would waste a
	// chunk.
	plain bool
}

func (b *boxer) int64(v int64) any {
	switch {
	case b.discard:
		return nil
	case b.plain, v >= 0 && v < 256: // the runtime boxes 0..255 without allocating
		return v
	}
	return b.ints.box(int64Type, v)
}

func (b *boxer) float64(v float64) any {
	switch {
	case b.discard:
		return nil
	case b.plain:
		return v
	}
	return b.floats.box(float64Type, v)
}

func (b *boxer) string(s string) any {
	switch {
	case b.discard:
		return nil
	case b.plain, s == "":
		return s
	}
	return b.strings.box(stringType, s)
}
