package topology_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func TestTupleGetters(t *testing.T) {
	tup := topology.NewTuple("src", "default", 7,
		topology.Fields{"s", "b", "i8", "u32", "i", "f32", "f64", "ok", "raw"},
		topology.Values{"hello", []byte("bytes"), int8(-3), uint32(40000), 12, float32(1.5), 2.25, true, []byte{1, 2}})

	if tup.Source() != "src" || tup.Stream() != "default" || tup.SourceTask() != 7 || tup.Len() != 9 {
		t.Errorf("identity: %s %s %d %d", tup.Source(), tup.Stream(), tup.SourceTask(), tup.Len())
	}
	if v, ok := tup.Get("s"); !ok || v != "hello" {
		t.Errorf("Get(s) = %v, %v", v, ok)
	}
	if _, ok := tup.Get("nosuch"); ok {
		t.Errorf("Get(nosuch) found something")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"String", tup.String("s"), "hello"},
		{"String of bytes", tup.String("b"), "bytes"},
		{"Bytes of string", string(tup.Bytes("s")), "hello"},
		{"Int64 of int8", tup.Int64("i8"), int64(-3)},
		{"Int64 of uint32", tup.Int64("u32"), int64(40000)},
		{"Int64 of int", tup.Int64("i"), int64(12)},
		{"Float64 of float32", tup.Float64("f32"), 1.5},
		{"Float64", tup.Float64("f64"), 2.25},
		{"Float64 of int", tup.Float64("i"), 12.0},
		{"Bool", tup.Bool("ok"), true},
		{"StringAt", tup.StringAt(0), "hello"},
		{"Int64At", tup.Int64At(3), int64(40000)},
		{"Float64At", tup.Float64At(6), 2.25},
		{"BoolAt", tup.BoolAt(7), true},
		{"BytesAt", len(tup.BytesAt(8)), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v (%T), want %v (%T)", c.name, c.got, c.got, c.want, c.want)
		}
	}
}

func TestToInt64(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{int(5), 5, true}, {int8(-8), -8, true}, {int16(-16), -16, true}, {int32(-32), -32, true},
		{int64(math.MinInt64), math.MinInt64, true}, {uint(7), 7, true}, {uint8(255), 255, true},
		{uint16(65535), 65535, true}, {uint32(math.MaxUint32), math.MaxUint32, true},
		{uint64(math.MaxInt64), math.MaxInt64, true}, {uint64(math.MaxInt64 + 1), 0, false},
		{uint(math.MaxUint64), 0, false}, {"5", 0, false}, {5.0, 0, false}, {nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := topology.ToInt64(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ToInt64(%T %v) = %d, %v; want %d, %v", tt.in, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// fieldPanic runs f and returns the *FieldError it panics with, or nil.
func fieldPanic(t *testing.T, f func()) (fe *topology.FieldError) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err, ok := r.(error)
		if !ok || !errors.As(err, &fe) {
			t.Errorf("panic value %T %v is not a *FieldError", r, r)
		}
	}()
	f()
	return nil
}

func TestTupleGetterPanics(t *testing.T) {
	tup := topology.NewTuple("src", "words", 1, topology.Fields{"word", "n"}, topology.Values{"hi", 3})
	tests := []struct {
		name    string
		f       func()
		field   string
		want    string // FieldError.Want; empty for a missing field
		message string
	}{
		{"missing field", func() { tup.String("nope") }, "nope", "", "has no field nope"},
		{"string as int", func() { tup.Int64("word") }, "word", "int64", "is string, not int64"},
		{"int as string", func() { tup.String("n") }, "n", "string", "is int, not string"},
		{"int as bool", func() { tup.Bool("n") }, "n", "bool", "not bool"},
		{"string as float", func() { tup.Float64("word") }, "word", "float64", "not float64"},
		{"int as bytes", func() { tup.Bytes("n") }, "n", "[]byte", "not []byte"},
		{"index out of range", func() { tup.StringAt(5) }, "", "", "has no field #5"},
		{"index wrong type", func() { tup.Int64At(0) }, "", "int64", "field #0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := fieldPanic(t, tt.f)
			if fe == nil {
				t.Fatal("no panic")
			}
			if fe.Field != tt.field || fe.Want != tt.want || fe.Source != "src" || fe.Stream != "words" {
				t.Errorf("FieldError = %+v", fe)
			}
			if msg := fe.Error(); !strings.Contains(msg, tt.message) || !strings.Contains(msg, "src/words") {
				t.Errorf("message %q lacks %q or the stream", msg, tt.message)
			}
		})
	}
}

func TestIsTick(t *testing.T) {
	tick := topology.NewTuple(topology.SystemComponent, topology.TickStream, 0, nil, nil)
	if !topology.IsTick(tick) {
		t.Error("tick tuple not recognised")
	}
	if topology.IsTick(topology.NewTuple("src", topology.TickStream, 1, nil, nil)) {
		t.Error("user tuple on __tick taken for a tick")
	}
}
