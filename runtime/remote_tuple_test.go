package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

// remoteFields are the fields of the stream TestRemoteTuplesAcrossWorkers
// sends between workers: a value of each wire type.
var remoteFields = []string{"n", "s", "b", "i8", "big", "f32", "f64", "yes", "none", "ts", "list", "m"}

// remoteEmitted returns the values of tuple n as the spout emits them.
func remoteEmitted(n int64) topology.Values {
	return topology.Values{
		n, fmt.Sprintf("word-%d", n), []byte{byte(n), 0xc4, 0xd9}, int8(-(n % 100)),
		uint64(math.MaxUint64) - uint64(n), float32(n) + 0.5, float64(n) * 1.25, n%2 == 0, nil,
		time.Unix(1e9+n, n).In(time.FixedZone("X", 7200)), []any{"x", int8(n % 100)}, map[string]any{"k": n},
	}
}

// remoteDecoded returns them as they arrive in another worker: integers
// that fit as int64, times in UTC.
func remoteDecoded(n int64) topology.Values {
	v := remoteEmitted(n)
	v[3] = int64(-(n % 100))
	v[9] = time.Unix(1e9+n, n).UTC()
	v[10] = []any{"x", n % 100}
	return v
}

// remoteSpout emits remoteEmitted(0..n-1) with message ids and counts the
// acks.
type remoteSpout struct {
	n     int64
	next  int64
	acked *atomic.Int64
}

func (s *remoteSpout) Open(context.Context, *topology.Context) error { return nil }
func (s *remoteSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	if s.next < s.n {
		out.Emit(remoteEmitted(s.next), s.next)
		s.next++
	}
	return nil
}
func (s *remoteSpout) Ack(any)      { s.acked.Add(1) }
func (s *remoteSpout) Fail(any)     {}
func (s *remoteSpout) Close() error { return nil }

// problems collects what the bolts of a test found wrong, on their own
// goroutines, for the test to report.
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.list) < 30 {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

// panicsWith runs f and returns the *topology.FieldError it panicked with.
func panicsWith(f func()) (fe *topology.FieldError) {
	defer func() {
		if p, ok := recover().(error); ok {
			errors.As(p, &fe)
		}
	}()
	f()
	return nil
}

// checkRemoteGetters reads t, tuple n of the remote stream still encoded,
// through every typed getter, then Values, Value and Get.
func checkRemoteGetters(p *problems, where string, t topology.Tuple) {
	rt, ok := t.(*tuple)
	if !ok || rt.kind != lazyRaw {
		p.add("%s: tuple arrived with its values decoded (%T)", where, t)
		return
	}
	n := t.Int64("n")
	want := remoteDecoded(n)
	bad := func(what string, got, want any) {
		p.add("%s: tuple %d: %s = %#v, want %#v", where, n, what, got, want)
	}
	if got := t.Len(); got != len(want) {
		bad("Len()", got, len(want))
	}
	if got := t.Int64At(0); got != n {
		bad("Int64At(0)", got, n)
	}
	s := want[1].(string)
	if got := t.String("s"); got != s {
		bad(`String("s")`, got, s)
	}
	if got := t.StringAt(1); got != s {
		bad("StringAt(1)", got, s)
	}
	if got := t.Bytes("s"); string(got) != s {
		bad(`Bytes("s")`, got, s)
	}
	b := want[2].([]byte)
	if got := t.Bytes("b"); !bytes.Equal(got, b) {
		bad(`Bytes("b")`, got, b)
	}
	if got := t.BytesAt(2); !bytes.Equal(got, b) {
		bad("BytesAt(2)", got, b)
	}
	if got := t.String("b"); got != string(b) {
		bad(`String("b")`, got, string(b))
	}
	i8 := want[3].(int64)
	if got := t.Int64("i8"); got != i8 {
		bad(`Int64("i8")`, got, i8)
	}
	if got := t.Float64At(3); got != float64(i8) {
		bad("Float64At(3)", got, float64(i8))
	}
	if got := t.Float64("f32"); got != float64(want[5].(float32)) {
		bad(`Float64("f32")`, got, want[5])
	}
	if got := t.Float64At(6); got != want[6].(float64) {
		bad("Float64At(6)", got, want[6])
	}
	if got := t.Bool("yes"); got != want[7].(bool) {
		bad(`Bool("yes")`, got, want[7])
	}
	if got := t.BoolAt(7); got != want[7].(bool) {
		bad("BoolAt(7)", got, want[7])
	}
	// Wrong types and missing fields panic as TupleData's getters do.
	for _, c := range []struct {
		what string
		f    func()
		want topology.FieldError
	}{
		{`Int64("big")`, func() { t.Int64("big") }, topology.FieldError{Field: "big", Index: 4, Want: "int64", Got: want[4]}},
		{`Float64At(4)`, func() { t.Float64At(4) }, topology.FieldError{Index: 4, Want: "float64", Got: want[4]}},
		{`String("none")`, func() { t.String("none") }, topology.FieldError{Field: "none", Index: 8, Want: "string"}},
		{`BoolAt(9)`, func() { t.BoolAt(9) }, topology.FieldError{Index: 9, Want: "bool", Got: want[9]}},
		{`Int64("list")`, func() { t.Int64("list") }, topology.FieldError{Field: "list", Index: 10, Want: "int64", Got: want[10]}},
		{`Bytes("nope")`, func() { t.Bytes("nope") }, topology.FieldError{Field: "nope", Index: -1}},
		{`StringAt(12)`, func() { t.StringAt(12) }, topology.FieldError{Index: 12}},
	} {
		fe := panicsWith(c.f)
		c.want.Source, c.want.Stream = "origin", topology.DefaultStream
		if fe == nil || !reflect.DeepEqual(*fe, c.want) {
			p.add("%s: tuple %d: %s panicked with %+v, want %+v", where, n, c.what, fe, c.want)
		}
	}
	if rt.kind != lazyRaw {
		p.add("%s: tuple %d: the typed getters decoded the values", where, n)
	}
	if got := t.Values(); !reflect.DeepEqual(got, want) {
		bad("Values()", got, want)
	}
	if rt.kind != inVals {
		p.add("%s: tuple %d: Values() left the values encoded", where, n)
	}
	if got := t.Value(9); !reflect.DeepEqual(got, want[9]) {
		bad("Value(9)", got, want[9])
	}
	if got, ok := t.Get("m"); !ok || !reflect.DeepEqual(got, want[11]) {
		bad(`Get("m")`, got, want[11])
	}
	if got := t.StringAt(1); got != s {
		bad("StringAt(1) after Values()", got, s)
	}
}

// TestRemoteTuplesAcrossWorkers runs a spout (origin) in one worker, a bolt
// (relay) reading its tuples in the other, and a sink back in the first: tuples cross the
// loopback transport twice, at least once. The bolt reads each tuple
// through every getter while its values are still encoded, then Values();
// it forwards Values() (so they are encoded again, from []any) to the sink,
// which checks them the same way. Every tuple tree must complete.
func TestRemoteTuplesAcrossWorkers(t *testing.T) {
	const n = 400
	var acked, checked, sunk atomic.Int64
	var p problems
	b := topology.NewBuilder("remote-tuples")
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce, BatchSize: 16})
	b.SetSpout("origin", func() topology.Spout { return &remoteSpout{n: n, acked: &acked} }, 1).Output(remoteFields...)
	b.SetBolt("relay", topology.BoltFunc(func(_ context.Context, tu topology.Tuple, out topology.Emitter) error {
		checkRemoteGetters(&p, "relay", tu)
		out.Emit(tu.Values(), tu)
		out.Ack(tu)
		checked.Add(1)
		return nil
	}).Factory(), 1).ShuffleFrom("origin").Output(remoteFields...)
	b.SetBolt("sink", topology.BoltFunc(func(_ context.Context, tu topology.Tuple, out topology.Emitter) error {
		if tu.Source() != "relay" {
			p.add("sink: tuple from %s", tu.Source())
		}
		// The forwarded tuple's getters report its own stream.
		checkForwarded(&p, tu)
		out.Ack(tu)
		sunk.Add(1)
		return nil
	}).Factory(), 1).ShuffleFrom("relay")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ls := startWorkers(t, topo, 2)
	src, check, sink := topo.Tasks("origin")[0], topo.Tasks("relay")[0], topo.Tasks("sink")[0]
	if ls[0].isLocal(src) == ls[0].isLocal(check) || ls[0].isLocal(check) == ls[0].isLocal(sink) {
		t.Fatalf("tasks origin %d, relay %d, sink %d: want relay in the other worker than origin and sink", src, check, sink)
	}
	eventually(t, 30*time.Second, "every tuple tree completed", func() bool { return acked.Load() == n })
	if checked.Load() != n || sunk.Load() != n {
		t.Errorf("relay executed %d tuples and sink %d, want %d each", checked.Load(), sunk.Load(), n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.list {
		t.Error(s)
	}
}

// checkForwarded checks a tuple of relay's stream in the sink: still
// encoded on arrival, and equal to the decoded values of its number.
func checkForwarded(p *problems, t topology.Tuple) {
	if rt, ok := t.(*tuple); !ok || rt.kind != lazyRaw {
		p.add("sink: tuple arrived with its values decoded")
	}
	n := t.Int64("n")
	want := remoteDecoded(n)
	if got := t.StringAt(1); got != want[1] {
		p.add("sink: tuple %d: StringAt(1) = %q, want %q", n, got, want[1])
	}
	fe := panicsWith(func() { t.Int64At(4) })
	if fe == nil || fe.Source != "relay" || fe.Stream != topology.DefaultStream || fe.Got != want[4] {
		p.add("sink: tuple %d: Int64At(4) panicked with %+v", n, fe)
	}
	if got := t.Values(); !reflect.DeepEqual(got, want) {
		p.add("sink: tuple %d: Values() = %#v, want %#v", n, got, want)
	}
}
