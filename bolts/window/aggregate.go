package window

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gale-stream/gale/topology"
)

// Aggregator folds the tuples of one window of one key into an accumulator
// of type A, incrementally: the window keeps only the accumulator, never the
// tuples. A is stored in keyed state with msgpack, so it must round-trip
// through msgpack (exported fields, no funcs or channels).
//
// One Aggregator is shared by every task of the component: its methods must
// be safe to call from several goroutines at once, which they are when they
// use only their arguments.
type Aggregator[A any] interface {
	// Init returns the accumulator of an empty window.
	Init() A
	// Add returns acc with t added. t belongs to the runtime; copy what of
	// it you keep.
	Add(acc A, t topology.Tuple) A
	// Merge returns the accumulator of the union of two windows' tuples.
	// Session windows call it when they merge; other windows never do.
	Merge(a, b A) A
	// Result returns the aggregate fields of the window's result (declared
	// by Config.OutputFields).
	Result(acc A) topology.Values
}

// Aggregation is how a window bolt computes its results: incrementally with
// an [Aggregator] (see [Aggregate]), or from every tuple of the window (see
// [ProcessAll]). The zero value is invalid.
type Aggregation struct {
	impl aggregation
}

// aggregation works on encoded accumulators, so the bolt needs no type
// parameter. A nil acc is the empty window's.
type aggregation interface {
	add(acc []byte, t topology.Tuple) ([]byte, error)
	merge(a, b []byte) ([]byte, error)
	result(acc []byte) ([]topology.Values, error)
	// process is non-nil in full-window mode.
	processor() ProcessFunc
}

// Aggregate makes an incremental [Aggregation] from agg.
func Aggregate[A any](agg Aggregator[A]) Aggregation {
	return Aggregation{impl: typedAgg[A]{agg}}
}

type typedAgg[A any] struct{ a Aggregator[A] }

func (g typedAgg[A]) decode(b []byte) (A, error) {
	if b == nil {
		return g.a.Init(), nil
	}
	var acc A
	if err := msgpack.Unmarshal(b, &acc); err != nil {
		return acc, fmt.Errorf("decode accumulator %T: %w", acc, err)
	}
	return acc, nil
}

func (g typedAgg[A]) encode(acc A) ([]byte, error) {
	b, err := msgpack.Marshal(acc)
	if err != nil {
		return nil, fmt.Errorf("encode accumulator %T: %w", acc, err)
	}
	return b, nil
}

func (g typedAgg[A]) add(b []byte, t topology.Tuple) ([]byte, error) {
	acc, err := g.decode(b)
	if err != nil {
		return nil, err
	}
	return g.encode(g.a.Add(acc, t))
}

func (g typedAgg[A]) merge(x, y []byte) ([]byte, error) {
	a, err := g.decode(x)
	if err != nil {
		return nil, err
	}
	b, err := g.decode(y)
	if err != nil {
		return nil, err
	}
	return g.encode(g.a.Merge(a, b))
}

func (g typedAgg[A]) result(b []byte) ([]topology.Values, error) {
	acc, err := g.decode(b)
	if err != nil {
		return nil, err
	}
	return []topology.Values{g.a.Result(acc)}, nil
}

func (g typedAgg[A]) processor() ProcessFunc { return nil }

// ProcessFunc computes the result rows of one window of one key from all
// its tuples, in arrival order. key holds the key fields' values and tuples
// the values of each tuple — projected onto Config.InputFields when those are
// set. Both come back from state through msgpack: integers are int64 (or
// uint64 above MaxInt64), floats float64, byte slices []byte. Each returned
// row holds the aggregate fields declared by Config.OutputFields; the bolt
// emits one result tuple per row (none for an empty slice).
type ProcessFunc func(w Window, key topology.Values, tuples []topology.Values) []topology.Values

// ProcessAll makes a full-window [Aggregation]: the bolt keeps every tuple
// of a window in keyed state and calls fn when the window fires. Prefer
// [Aggregate], which keeps one accumulator per window; use this only for
// results no accumulator can give (exact medians, say).
func ProcessAll(fn ProcessFunc) Aggregation {
	return Aggregation{impl: fullAgg{fn}}
}

// fullAgg keeps, as the accumulator, the number of tuples of the window; the
// tuples themselves live in their own map state.
type fullAgg struct{ fn ProcessFunc }

func (fullAgg) add(b []byte, _ topology.Tuple) ([]byte, error) { return nil, nil }
func (fullAgg) merge(_, _ []byte) ([]byte, error)              { return nil, nil }
func (fullAgg) result(_ []byte) ([]topology.Values, error)     { return nil, nil }
func (f fullAgg) processor() ProcessFunc                       { return f.fn }

// encodeValues encodes vs as msgpack for keeping in state.
func encodeValues(vs topology.Values) ([]byte, error) {
	b, err := msgpack.Marshal([]any(vs))
	if err != nil {
		return nil, fmt.Errorf("encode values: %w", err)
	}
	return b, nil
}

// decodeValues decodes what encodeValues made, with loose interface
// decoding: integers come back as int64 (uint64 above MaxInt64) and floats as
// float64, whatever width msgpack chose.
func decodeValues(b []byte) (topology.Values, error) {
	if len(b) == 0 {
		return nil, nil
	}
	d := msgpack.NewDecoder(bytes.NewReader(b))
	d.UseLooseInterfaceDecoding(true)
	var vs []any
	if err := d.Decode(&vs); err != nil {
		return nil, fmt.Errorf("decode values: %w", err)
	}
	return topology.Values(vs), nil
}
