package topology

import (
	"fmt"
	"math"
)

// Fields is the ordered list of field names of a stream.
type Fields []string

// Index returns the position of name in f, or -1. Streams have few fields,
// so a linear scan beats a map here.
func (f Fields) Index(name string) int {
	for i, n := range f {
		if n == name {
			return i
		}
	}
	return -1
}

// Values are the values of one tuple, in the order of the stream's [Fields].
type Values []any

// Tuple is one message on a stream: values under the stream's declared fields,
// with the component, stream and task that emitted it.
//
// A Tuple handed to [Bolt.Execute] belongs to the runtime. The bolt may keep it
// until it has acked or failed it (to anchor to it, or to batch it), but must
// not modify its values. Once the tuple is acked or failed and Execute has
// returned, the runtime may reuse the Tuple for another input: do not touch
// it afterwards, nor ack or fail it again. The Values slice itself is not
// reused, so a bolt may keep t.Values() (or emit it) past the ack. Byte
// slices among the values may be reused after the tuple is acked or failed,
// so copy what you keep longer. Strings among the values of a tuple that
// came from another worker share one buffer with other tuples' values: a
// bolt that keeps a few of them for long (as map keys, say) should
// strings.Clone them, or they keep the whole buffer alive.
//
// The typed getters (String, Int64, ...) panic with a [*FieldError] when the
// field does not exist or holds another type, as Storm's getters throw; the
// runtime recovers the panic and fails the tuple. Use [Tuple.Get] to check
// first.
type Tuple interface {
	// Source is the component that emitted the tuple.
	Source() ComponentID
	// Stream is the stream the tuple was emitted on.
	Stream() StreamID
	// SourceTask is the task that emitted the tuple.
	SourceTask() TaskID
	// Fields are the stream's declared field names.
	Fields() Fields
	// Values are the tuple's values, in field order. Do not modify them.
	Values() Values
	// Len is the number of values.
	Len() int
	// Value returns the i-th value.
	Value(i int) any
	// Get returns the value of the named field, and whether it exists.
	Get(field string) (any, bool)

	String(field string) string
	Int64(field string) int64
	Float64(field string) float64
	Bool(field string) bool
	Bytes(field string) []byte

	StringAt(i int) string
	Int64At(i int) int64
	Float64At(i int) float64
	BoolAt(i int) bool
	BytesAt(i int) []byte
}

// FieldError is the panic value of a typed getter asked for a field that does
// not exist or that holds a value of another type.
type FieldError struct {
	Source ComponentID
	Stream StreamID
	Field  string // empty when the field was given by index
	Index  int
	Want   string
	Got    any
}

func (e *FieldError) Error() string {
	name := e.Field
	if name == "" {
		name = fmt.Sprintf("#%d", e.Index)
	}
	if e.Want == "" {
		return fmt.Sprintf("topology: stream %s/%s has no field %s", e.Source, e.Stream, name)
	}
	return fmt.Sprintf("topology: field %s of stream %s/%s is %T, not %s", name, e.Source, e.Stream, e.Got, e.Want)
}

// TupleData holds what every tuple carries and implements [Tuple]. The runtime
// embeds it in its own tuple type; tests use it directly through [NewTuple].
type TupleData struct {
	// Origin is the stream the tuple was emitted on; it is shared by every
	// tuple of that stream, which keeps tuples small.
	Origin       *Origin
	SourceTaskID TaskID
	Vals         Values
}

// Origin identifies a stream of a component: where a tuple comes from and
// what its fields are.
type Origin struct {
	Component ComponentID
	Stream    StreamID
	Fields    Fields
}

// NewTuple returns a tuple for tests of a bolt outside the runtime. Acking or
// anchoring to it through a runtime emitter has no effect.
func NewTuple(source ComponentID, stream StreamID, task TaskID, fields Fields, values Values) *TupleData {
	return &TupleData{Origin: &Origin{Component: source, Stream: stream, Fields: fields}, SourceTaskID: task, Vals: values}
}

func (t *TupleData) Source() ComponentID { return t.Origin.Component }
func (t *TupleData) Stream() StreamID    { return t.Origin.Stream }
func (t *TupleData) SourceTask() TaskID  { return t.SourceTaskID }
func (t *TupleData) Fields() Fields      { return t.Origin.Fields }
func (t *TupleData) Values() Values      { return t.Vals }
func (t *TupleData) Len() int            { return len(t.Vals) }
func (t *TupleData) Value(i int) any     { return t.Vals[i] }

func (t *TupleData) Get(field string) (any, bool) {
	i := t.Origin.Fields.Index(field)
	if i < 0 || i >= len(t.Vals) {
		return nil, false
	}
	return t.Vals[i], true
}

func (t *TupleData) index(field string) int {
	i := t.Origin.Fields.Index(field)
	if i < 0 || i >= len(t.Vals) {
		panic(&FieldError{Source: t.Origin.Component, Stream: t.Origin.Stream, Field: field, Index: i})
	}
	return i
}

func (t *TupleData) at(i int) any {
	if i < 0 || i >= len(t.Vals) {
		panic(&FieldError{Source: t.Origin.Component, Stream: t.Origin.Stream, Index: i})
	}
	return t.Vals[i]
}

func (t *TupleData) String(field string) string   { return t.asString(t.index(field), field) }
func (t *TupleData) Int64(field string) int64     { return t.asInt64(t.index(field), field) }
func (t *TupleData) Float64(field string) float64 { return t.asFloat64(t.index(field), field) }
func (t *TupleData) Bool(field string) bool       { return t.asBool(t.index(field), field) }
func (t *TupleData) Bytes(field string) []byte    { return t.asBytes(t.index(field), field) }

func (t *TupleData) StringAt(i int) string   { t.at(i); return t.asString(i, "") }
func (t *TupleData) Int64At(i int) int64     { t.at(i); return t.asInt64(i, "") }
func (t *TupleData) Float64At(i int) float64 { t.at(i); return t.asFloat64(i, "") }
func (t *TupleData) BoolAt(i int) bool       { t.at(i); return t.asBool(i, "") }
func (t *TupleData) BytesAt(i int) []byte    { t.at(i); return t.asBytes(i, "") }

func (t *TupleData) wrong(i int, field, want string) *FieldError {
	return &FieldError{Source: t.Origin.Component, Stream: t.Origin.Stream, Field: field, Index: i, Want: want, Got: t.Vals[i]}
}

func (t *TupleData) asString(i int, field string) string {
	switch v := t.Vals[i].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	panic(t.wrong(i, field, "string"))
}

// asInt64 accepts every integer type, since a value that crossed a process
// boundary may come back in the smallest msgpack type that holds it.
func (t *TupleData) asInt64(i int, field string) int64 {
	if n, ok := ToInt64(t.Vals[i]); ok {
		return n
	}
	panic(t.wrong(i, field, "int64"))
}

func (t *TupleData) asFloat64(i int, field string) float64 {
	switch v := t.Vals[i].(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	}
	if n, ok := ToInt64(t.Vals[i]); ok {
		return float64(n)
	}
	panic(t.wrong(i, field, "float64"))
}

func (t *TupleData) asBool(i int, field string) bool {
	if v, ok := t.Vals[i].(bool); ok {
		return v
	}
	panic(t.wrong(i, field, "bool"))
}

func (t *TupleData) asBytes(i int, field string) []byte {
	switch v := t.Vals[i].(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	panic(t.wrong(i, field, "[]byte"))
}

// ToInt64 converts any Go integer type to int64. It reports false for other
// types and for uint64 values above [math.MaxInt64].
func ToInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint8:
		return int64(n), true
	}
	return 0, false
}

// IsTick reports whether t is a tick tuple (see [BoltDeclarer.Tick]).
func IsTick(t Tuple) bool {
	return t.Source() == SystemComponent && t.Stream() == TickStream
}
