package bolts

import (
	"context"
	"strings"

	"github.com/gale-stream/gale/topology"
)

// Default field names of [Split].
const (
	DefaultSplitIn  = "sentence"
	DefaultSplitOut = "word"
)

// SplitOption configures [Split].
type SplitOption func(*splitBolt)

// SplitIn names the input field to split. Default: "sentence".
func SplitIn(field string) SplitOption { return func(s *splitBolt) { s.in = field } }

// SplitOut names the output field. Default: "word".
func SplitOut(field string) SplitOption { return func(s *splitBolt) { s.out = field } }

// KeepEmpty emits the empty strings between adjacent separators, which are
// skipped by default.
func KeepEmpty() SplitOption { return func(s *splitBolt) { s.keepEmpty = true } }

// Split returns a bolt that splits the string field "sentence" of every input
// at sep and emits one tuple per piece under the field "word", anchored to
// the input. An empty sep splits at runs of white space, as
// [strings.Fields] does. The field names change with [SplitIn] and
// [SplitOut]. A []byte field is split as a string.
func Split(sep string, opts ...SplitOption) topology.BoltFactory {
	proto := splitBolt{sep: sep, in: DefaultSplitIn, out: DefaultSplitOut}
	for _, o := range opts {
		o(&proto)
	}
	return func() topology.Bolt {
		s := proto
		return topology.Basic(&s)
	}
}

type splitBolt struct {
	sep, in, out string
	keepEmpty    bool
}

func (s *splitBolt) DeclareOutputs(o *topology.Outputs)               { o.Default(s.out) }
func (s *splitBolt) Prepare(context.Context, *topology.Context) error { return nil }
func (s *splitBolt) Cleanup() error                                   { return nil }

func (s *splitBolt) Execute(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
	text := t.String(s.in)
	// The runtime's emitter takes a word as a plain string, sparing the
	// boxing into an interface and the Values. Otherwise one backing array
	// holds the values of every word of the input, so a word costs one
	// allocation instead of two. Emitted Values belong to the runtime and are
	// never reused here.
	strOut, _ := out.(topology.StringEmitter)
	var vals []any
	emit := func(w string) {
		if strOut != nil {
			strOut.EmitString(topology.DefaultStream, w)
			return
		}
		if len(vals) == 0 {
			vals = make([]any, 16)
		}
		vals[0] = w
		out.Emit(topology.Values(vals[0:1:1]))
		vals = vals[1:]
	}
	if s.sep == "" {
		for w := range strings.FieldsSeq(text) {
			emit(w)
		}
		return nil
	}
	for w := range strings.SplitSeq(text, s.sep) {
		if w != "" || s.keepEmpty {
			emit(w)
		}
	}
	return nil
}
