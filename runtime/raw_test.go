package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"pgregory.net/rapid"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/topology"
)

// rawCase is one value of the getter equivalence tests, as a bolt emits it.
type rawCase struct {
	name string
	v    any
}

// rawCases are values of every type the wire format carries, with the
// lengths and magnitudes at which their encodings change.
func rawCases() []rawCase {
	ts := time.Date(2026, 11, 27, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	return []rawCase{
		{"str", "word"},
		{"str_empty", ""},
		{"str_31", strings.Repeat("a", 31)},    // longest fixstr
		{"str_32", strings.Repeat("b", 32)},    // str8
		{"str_170", strings.Repeat("c", 170)},  // str8 whose length byte looks like a fixstr
		{"str_300", strings.Repeat("d", 300)},  // str16
		{"str_70k", strings.Repeat("e", 70e3)}, // str32
		{"bytes", []byte("raw")},
		{"bytes_empty", []byte{}},
		{"bytes_170", bytes.Repeat([]byte{0xa5}, 170)},
		{"bytes_300", bytes.Repeat([]byte{0xb6}, 300)},
		{"bytes_70k", bytes.Repeat([]byte{0xda}, 70e3)},
		{"int8_neg", int8(-5)},
		{"int8_min", int8(math.MinInt8)},
		{"int16_neg", int16(-300)},
		{"int32_neg", int32(-70000)},
		{"int64_neg", int64(-1 << 40)},
		{"int64_min", int64(math.MinInt64)},
		{"int64_max", int64(math.MaxInt64)},
		{"int", 42},
		{"int_zero", 0},
		{"uint8", uint8(200)},
		{"uint16", uint16(60000)},
		{"uint32", uint32(4e9)},
		{"uint64", uint64(1 << 40)},
		{"uint64_maxint64", uint64(math.MaxInt64)},
		{"uint64_above_maxint64", uint64(math.MaxInt64) + 1},
		{"uint64_max", uint64(math.MaxUint64)},
		{"float32", float32(1.5)},
		{"float32_neg", float32(-3.25)},
		{"float64", 2.5},
		{"float64_neg_zero", math.Copysign(0, -1)},
		{"float64_2p63", float64(1 << 63)}, // a float where a uint64 above MaxInt64 would be
		{"float64_1e300", 1e300},
		{"float64_nan", math.NaN()},
		{"float64_inf", math.Inf(-1)},
		{"bool_true", true},
		{"bool_false", false},
		{"nil", nil},
		{"time", ts},
		{"list", []any{"x", int64(1), []byte("y")}},
		{"map", map[string]any{"k": int64(1), "s": "v"}},
	}
}

// rawFixture is the tuple of every rawCases value, as it travels: its
// values, field names (extra ones appended), origin, encoded frame, and the
// values an eager decoder makes of the frame.
type rawFixture struct {
	cases   []rawCase
	vals    []any
	origin  *topology.Origin
	frame   []byte
	decoded []any
}

func newRawFixture(t *testing.T, extraFields ...string) rawFixture {
	t.Helper()
	f := rawFixture{cases: rawCases()}
	f.vals = make([]any, len(f.cases))
	fields := make(topology.Fields, len(f.cases))
	for i, c := range f.cases {
		f.vals[i], fields[i] = c.v, c.name
	}
	fields = append(fields, extraFields...)
	f.origin = &topology.Origin{Component: "src", Stream: "default", Fields: fields}
	f.frame = encodeTuple(t, f.vals)
	f.decoded = receiveEager(t, f.frame)
	return f
}

// encodeTuple encodes values as one tuple of a batch frame.
func encodeTuple(t testing.TB, values []any) []byte {
	t.Helper()
	f := &wire.Frame{Kind: wire.KindBatch, Batch: wire.Batch{Items: []wire.Item{{
		Kind:  wire.KindTuple,
		Tuple: wire.Tuple{Dest: 2, SourceTask: 1, Stream: "default", Values: values, Edges: []wire.Edge{{Root: 1, ID: 2}}},
	}}}}
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// receive decodes frame b as a worker's transport does, lazily, and
// returns its tuple's raw values.
func receiveLazy(t testing.TB, b []byte) *wire.RawValues {
	t.Helper()
	d := wire.Decoder{Lazy: true}
	var f wire.Frame
	if err := d.DecodeOwned(bytes.Clone(b), &f); err != nil {
		t.Fatalf("lazy decode: %v", err)
	}
	tu := f.Batch.Items[0].Tuple
	if tu.Values != nil {
		t.Fatal("lazy decode set Values")
	}
	return &tu.Raw
}

// receiveEager decodes frame b as the transport did before values were
// lazy, and returns its tuple's values.
func receiveEager(t testing.TB, b []byte) []any {
	t.Helper()
	var f wire.Frame
	if err := wire.DecodeFrame(b, &f); err != nil {
		t.Fatalf("eager decode: %v", err)
	}
	return f.Batch.Items[0].Tuple.Values
}

// getterCall is one call of a typed getter.
type getterCall struct {
	name string
	call func(topology.Tuple) any
}

// getterCalls calls every typed getter by name on every field (plus one the
// stream declares but the tuple lacks, and one it does not declare) and by
// index on every index (plus -1 and one past the end).
func getterCalls(fields topology.Fields, n int) []getterCall {
	var calls []getterCall
	names := append(append(topology.Fields{}, fields...), "nope")
	for _, f := range names {
		calls = append(calls,
			getterCall{"String(" + f + ")", func(t topology.Tuple) any { return t.String(f) }},
			getterCall{"Int64(" + f + ")", func(t topology.Tuple) any { return t.Int64(f) }},
			getterCall{"Float64(" + f + ")", func(t topology.Tuple) any { return t.Float64(f) }},
			getterCall{"Bool(" + f + ")", func(t topology.Tuple) any { return t.Bool(f) }},
			getterCall{"Bytes(" + f + ")", func(t topology.Tuple) any { return t.Bytes(f) }},
		)
	}
	for i := -1; i <= n; i++ {
		is := fmt.Sprint(i)
		calls = append(calls,
			getterCall{"StringAt(" + is + ")", func(t topology.Tuple) any { return t.StringAt(i) }},
			getterCall{"Int64At(" + is + ")", func(t topology.Tuple) any { return t.Int64At(i) }},
			getterCall{"Float64At(" + is + ")", func(t topology.Tuple) any { return t.Float64At(i) }},
			getterCall{"BoolAt(" + is + ")", func(t topology.Tuple) any { return t.BoolAt(i) }},
			getterCall{"BytesAt(" + is + ")", func(t topology.Tuple) any { return t.BytesAt(i) }},
		)
	}
	return calls
}

// outcome is what a getter call did: returned res, or panicked with p.
type outcome struct {
	res      any
	p        any
	panicked bool
}

func try(tu topology.Tuple, c getterCall) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			o.p, o.panicked = p, true
		}
	}()
	return outcome{res: c.call(tu)}
}

// sameResult compares getter results: floats by bits (NaN and -0 too),
// byte slices by content, everything else as ==.
func sameResult(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	return a == b
}

// sameValue compares decoded values: NaNs are equal to NaNs.
func sameValue(a, b any) bool {
	if x, ok := a.(float64); ok {
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	}
	return reflect.DeepEqual(a, b)
}

// checkSame demands identical outcomes of c on got and want. exactGot also
// compares FieldError.Got, which holds the value as decoded: only the
// decoded local tuple has the same values there.
func checkSame(t *testing.T, c getterCall, got, want topology.Tuple, exactGot bool) {
	t.Helper()
	if msg := diffOutcome(c, got, want, exactGot); msg != "" {
		t.Error(msg)
	}
}

// diffOutcome describes how c's outcomes on got and want differ, or
// returns "".
func diffOutcome(c getterCall, got, want topology.Tuple, exactGot bool) string {
	g, w := try(got, c), try(want, c)
	if g.panicked != w.panicked {
		return fmt.Sprintf("%s: remote returned %v panicked %v, local returned %v panicked %v", c.name, g.res, g.p, w.res, w.p)
	}
	if !g.panicked {
		if !sameResult(g.res, w.res) {
			return fmt.Sprintf("%s = %#v, local gives %#v", c.name, g.res, w.res)
		}
		return ""
	}
	var gf, wf *topology.FieldError
	if !errors.As(asError(g.p), &gf) || !errors.As(asError(w.p), &wf) {
		return fmt.Sprintf("%s: remote panicked with %v, local with %v; want *topology.FieldError for both", c.name, g.p, w.p)
	}
	gc, wc := *gf, *wf
	if !exactGot {
		gc.Got, wc.Got = nil, nil
	}
	if gc.Source != wc.Source || gc.Stream != wc.Stream || gc.Field != wc.Field || gc.Index != wc.Index || gc.Want != wc.Want || !sameValue(gc.Got, wc.Got) {
		return fmt.Sprintf("%s: remote panicked with %+v, local with %+v", c.name, gc, wc)
	}
	return ""
}

func asError(p any) error {
	if err, ok := p.(error); ok {
		return err
	}
	return fmt.Errorf("%v", p)
}

// TestRawGettersMatchTupleData runs every typed getter on a tuple received
// from another worker, its values left encoded, and on local TupleData
// holding the same values, and demands the same results or the same
// panics. The local tuple holds the values both as emitted and as the
// eager decoder made them (the remote tuple's values before they were
// lazy); only the latter also has the same FieldError.Got, since decoding
// changes types there (an int8 comes back an int64, a time in UTC).
func TestRawGettersMatchTupleData(t *testing.T) {
	// The stream declares one field more than the tuple has values.
	fx := newRawFixture(t, "undelivered")
	cases, vals, origin, frame, decoded := fx.cases, fx.vals, fx.origin, fx.frame, fx.decoded
	raw := receiveLazy(t, frame)
	if raw.Len() != len(vals) || len(decoded) != len(vals) {
		t.Fatalf("%d raw and %d decoded values of %d", raw.Len(), len(decoded), len(vals))
	}
	remote := &tuple{TupleData: topology.TupleData{Origin: origin, SourceTaskID: 1}}
	remote.setRaw(raw)
	asDecoded := &topology.TupleData{Origin: origin, SourceTaskID: 1, Vals: decoded}
	asEmitted := &topology.TupleData{Origin: origin, SourceTaskID: 1, Vals: vals}

	calls := getterCalls(origin.Fields, len(vals))
	for _, c := range calls {
		t.Run("decoded/"+c.name, func(t *testing.T) { checkSame(t, c, remote, asDecoded, true) })
		t.Run("emitted/"+c.name, func(t *testing.T) { checkSame(t, c, remote, asEmitted, false) })
	}
	if remote.Len() != len(vals) {
		t.Errorf("Len = %d, want %d", remote.Len(), len(vals))
	}
	if remote.kind != lazyRaw || remote.Vals != nil {
		t.Fatalf("typed getters and Len materialized the values (kind %d, %d values)", remote.kind, len(remote.Vals))
	}

	// Values materializes them, once, as the eager decoder did; the
	// getters then read Vals and still agree.
	got := remote.Values()
	if remote.kind != inVals || remote.lazy != nil {
		t.Fatalf("Values left kind %d", remote.kind)
	}
	if len(got) != len(decoded) {
		t.Fatalf("Values has %d values, want %d", len(got), len(decoded))
	}
	for i := range got {
		if !sameValue(got[i], decoded[i]) {
			t.Errorf("Values()[%d] (%s) = %#v, want %#v", i, cases[i].name, got[i], decoded[i])
		}
	}
	if again := remote.Values(); &again[0] != &got[0] {
		t.Error("a second Values call decoded again")
	}
	for _, c := range calls {
		t.Run("materialized/"+c.name, func(t *testing.T) { checkSame(t, c, remote, asDecoded, true) })
	}
}

// TestRawValueAndGet checks Value and Get on a remote tuple, each on a
// fresh one, since both materialize the values.
func TestRawValueAndGet(t *testing.T) {
	fx := newRawFixture(t)
	cases, origin, frame, decoded := fx.cases, fx.origin, fx.frame, fx.decoded
	fresh := func() *tuple {
		tu := &tuple{TupleData: topology.TupleData{Origin: origin, SourceTaskID: 1}}
		tu.setRaw(receiveLazy(t, frame))
		return tu
	}
	for i, c := range cases {
		if v := fresh().Value(i); !sameValue(v, decoded[i]) {
			t.Errorf("Value(%d) = %#v, want %#v", i, v, decoded[i])
		}
		v, ok := fresh().Get(c.name)
		if !ok || !sameValue(v, decoded[i]) {
			t.Errorf("Get(%q) = %#v, %v, want %#v, true", c.name, v, ok, decoded[i])
		}
	}
	if v, ok := fresh().Get("nope"); ok || v != nil {
		t.Errorf("Get of a missing field = %v, %v", v, ok)
	}
}

// TestRawBytesOfStringIsACopy checks that Bytes of a string value returns
// a slice the bolt may modify, as TupleData.Bytes does, without changing
// the strings that alias the frame, and that Bytes of a bin value aliases
// the frame as TupleData returns the []byte value itself.
func TestRawBytesOfStringIsACopy(t *testing.T) {
	for _, s := range []string{"word", strings.Repeat("c", 170), strings.Repeat("d", 300), strings.Repeat("e", 70e3)} {
		raw := receiveLazy(t, encodeTuple(t, []any{s, []byte(s)}))
		tu := &tuple{TupleData: topology.TupleData{Origin: &topology.Origin{Fields: topology.Fields{"s", "b"}}}}
		tu.setRaw(raw)
		str := tu.StringAt(0)
		b := tu.BytesAt(0)
		b[0] ^= 0xff
		if tu.StringAt(0) != s || str != s {
			t.Fatalf("modifying Bytes of a %d-byte string value changed the string", len(s))
		}
		enc := raw.Encoded()
		bb := tu.BytesAt(1)
		inFrame := func(p []byte) bool {
			at, start := uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(unsafe.Pointer(unsafe.SliceData(enc)))
			return len(p) > 0 && at >= start && at < start+uintptr(len(enc))
		}
		if !inFrame(bb) {
			t.Errorf("Bytes of a %d-byte bin value was copied, want it aliasing the frame", len(s))
		}
		if inFrame(b) {
			t.Errorf("Bytes of a %d-byte string value aliases the frame", len(s))
		}
	}
}

// TestRawGettersDoNotAllocate checks that reading numbers, bools and
// strings of a remote tuple allocates nothing.
func TestRawGettersDoNotAllocate(t *testing.T) {
	raw := receiveLazy(t, encodeTuple(t, []any{"word", int64(1 << 40), 2.5, true, []byte("raw")}))
	tu := &tuple{TupleData: topology.TupleData{Origin: &topology.Origin{Fields: topology.Fields{"s", "n", "f", "b", "p"}}}}
	tu.setRaw(raw)
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		sink += len(tu.StringAt(0)) + len(tu.String("s"))
		sink += int(tu.Int64At(1)+tu.Int64("n")) + int(tu.Float64At(2)+tu.Float64("f"))
		if tu.BoolAt(3) && tu.Bool("b") {
			sink++
		}
		sink += len(tu.BytesAt(4)) + len(tu.Bytes("p")) + tu.Len()
	})
	if allocs != 0 {
		t.Errorf("typed getters of a remote tuple allocate %v times per run", allocs)
	}
	if sink == 0 || tu.kind != lazyRaw {
		t.Error("the getters read nothing, or materialized")
	}
}

// TestRawMaterializeConcurrently materializes remote tuples on several
// goroutines at once (a bolt may hand its inputs to others): each gets its
// values right; the race detector checks the decoders are not shared.
func TestRawMaterializeConcurrently(t *testing.T) {
	const goroutines, perG = 4, 200
	origin := &topology.Origin{Component: "src", Stream: "default", Fields: topology.Fields{"g", "i", "s"}}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		raws := make([]*wire.RawValues, perG)
		for i := range perG {
			raws[i] = receiveLazy(t, encodeTuple(t, []any{int64(g), int64(i), fmt.Sprintf("w%d-%d", g, i)}))
		}
		wg.Go(func() {
			for i, r := range raws {
				tu := &tuple{TupleData: topology.TupleData{Origin: origin}}
				tu.setRaw(r)
				v := tu.Values()
				if v[0] != int64(g) || v[1] != int64(i) || v[2] != fmt.Sprintf("w%d-%d", g, i) {
					errs <- fmt.Errorf("goroutine %d tuple %d: values %v", g, i, v)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRawTupleKey checks that the keyed state of a task gets the same key
// from a remote tuple as it did from the eagerly decoded values, and the
// same as the fields grouping routed by (times included, though they
// arrive in UTC: keygroup keys a time by its instant).
func TestRawTupleKey(t *testing.T) {
	fx := newRawFixture(t)
	cases, vals, origin, frame, decoded := fx.cases, fx.vals, fx.origin, fx.frame, fx.decoded
	keyOf := func(vs []any, idx []int) []byte {
		var k []byte
		for _, i := range idx {
			k = keygroup.AppendKey(k, vs[i])
		}
		return k
	}
	for i, c := range cases {
		for _, idx := range [][]int{{i}, {0, i}, {i, 1}} {
			tu := &tuple{TupleData: topology.TupleData{Origin: origin}}
			tu.setRaw(receiveLazy(t, frame))
			got := appendTupleKey(nil, tu, idx)
			if want := keyOf(decoded, idx); !bytes.Equal(got, want) {
				t.Errorf("key of fields %v (%s) = %q, eagerly decoded %q", idx, c.name, got, want)
			}
			if want := keyOf(vals, idx); !bytes.Equal(got, want) {
				t.Errorf("key of fields %v (%s) = %q, routed by %q", idx, c.name, got, want)
			}
		}
	}
}

// rawValue draws a value of a type the wire format carries, favouring the
// lengths and magnitudes where encodings change.
func rawValue() *rapid.Generator[any] {
	lengths := rapid.SampledFrom([]int{0, 1, 15, 31, 32, 159, 160, 191, 255, 256, 65535, 65536})
	return rapid.OneOf(
		rapid.Map(lengths, func(n int) any { return strings.Repeat("s", n) }),
		rapid.Map(rapid.String(), func(s string) any { return s }),
		rapid.Map(lengths, func(n int) any { return bytes.Repeat([]byte{0xa5}, n) }),
		rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) any { return b }),
		rapid.Map(rapid.Int64(), func(n int64) any { return n }),
		rapid.Map(rapid.Uint64(), func(n uint64) any { return n }),
		rapid.Map(rapid.Uint64Range(math.MaxInt64-2, math.MaxUint64), func(n uint64) any { return n }),
		rapid.Map(rapid.SampledFrom([]float64{0x1p63, -0x1p63, 0x1p64, math.Inf(1), math.NaN(), math.MaxFloat64}), func(f float64) any { return f }),
		rapid.Map(rapid.Int8(), func(n int8) any { return n }),
		rapid.Map(rapid.Uint32(), func(n uint32) any { return n }),
		rapid.Map(rapid.Float64(), func(f float64) any { return f }),
		rapid.Map(rapid.Float32(), func(f float32) any { return f }),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.Just[any](nil),
		rapid.Map(rapid.Int64Range(-1e12, 1e12), func(s int64) any { return time.Unix(s, s%1e9).UTC() }),
		rapid.Map(rapid.SliceOfN(rapid.Int64(), 0, 3), func(l []int64) any {
			out := make([]any, len(l))
			for i, n := range l {
				out[i] = n
			}
			return out
		}),
	)
}

// TestRawGettersMatchTupleDataRapid is TestRawGettersMatchTupleData over
// random value lists.
func TestRawGettersMatchTupleDataRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		vals := rapid.SliceOfN(rawValue(), 0, 6).Draw(rt, "values")
		fields := make(topology.Fields, len(vals)+1)
		for i := range fields {
			fields[i] = fmt.Sprintf("f%d", i)
		}
		origin := &topology.Origin{Component: "src", Stream: "default", Fields: fields}
		frame := encodeTuple(t, vals)
		remote := &tuple{TupleData: topology.TupleData{Origin: origin, SourceTaskID: 1}}
		remote.setRaw(receiveLazy(t, frame))
		local := &topology.TupleData{Origin: origin, SourceTaskID: 1, Vals: receiveEager(t, frame)}
		for _, c := range getterCalls(fields, len(vals)) {
			if msg := diffOutcome(c, remote, local, true); msg != "" {
				rt.Fatal(msg)
			}
		}
		if remote.Len() != len(vals) || remote.kind != lazyRaw {
			rt.Fatalf("Len = %d of %d values, kind %d", remote.Len(), len(vals), remote.kind)
		}
		got := remote.Values()
		for i := range vals {
			if !sameValue(got[i], local.Vals[i]) {
				rt.Fatalf("Values()[%d] = %#v, want %#v", i, got[i], local.Vals[i])
			}
		}
	})
}
