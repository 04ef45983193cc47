package topology_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

// Build the word count and print the spec a topology binary hands the
// cluster.
func Example() {
	b := topology.NewBuilder("wordcount")
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce, Workers: 2})
	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{Seed: 1, Limit: 1000}), 2)
	b.SetBolt("split", bolts.Split(" "), 3).ShuffleFrom("sentences")
	b.SetBolt("count", bolts.Count("word"), 2).FieldsFrom("split", "word")
	topo, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(topo.Spec()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {
	//   "version": 1,
	//   "name": "wordcount",
	//   "config": {
	//     "guarantee": "at-least-once",
	//     "message_timeout": "30s",
	//     "max_spout_pending": 1000,
	//     "ackers": 2,
	//     "workers": 2,
	//     "max_parallelism": 128,
	//     "queue_size": 1024,
	//     "batch_size": 64,
	//     "flush_interval": "1ms",
	//     "checkpoint_interval": "1s",
	//     "shutdown_timeout": "10s"
	//   },
	//   "components": [
	//     {
	//       "id": "sentences",
	//       "kind": "spout",
	//       "parallelism": 2,
	//       "tasks": [
	//         3,
	//         4
	//       ],
	//       "outputs": [
	//         {
	//           "id": "default",
	//           "fields": [
	//             "sentence"
	//           ]
	//         }
	//       ]
	//     },
	//     {
	//       "id": "split",
	//       "kind": "bolt",
	//       "parallelism": 3,
	//       "tasks": [
	//         5,
	//         6,
	//         7
	//       ],
	//       "outputs": [
	//         {
	//           "id": "default",
	//           "fields": [
	//             "word"
	//           ]
	//         }
	//       ],
	//       "inputs": [
	//         {
	//           "source": "sentences",
	//           "stream": "default",
	//           "grouping": "shuffle"
	//         }
	//       ]
	//     },
	//     {
	//       "id": "count",
	//       "kind": "bolt",
	//       "parallelism": 2,
	//       "tasks": [
	//         1,
	//         2
	//       ],
	//       "outputs": [
	//         {
	//           "id": "default",
	//           "fields": [
	//             "word",
	//             "count"
	//           ]
	//         }
	//       ],
	//       "inputs": [
	//         {
	//           "source": "split",
	//           "stream": "default",
	//           "grouping": "fields",
	//           "fields": [
	//             "word"
	//           ]
	//         }
	//       ]
	//     }
	//   ]
	// }
}

// Build reports every problem at once, each naming its component and
// stream; errors.Is finds each kind.
func ExampleBuilder_Build_errors() {
	b := topology.NewBuilder("broken")
	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{}), 0)
	b.SetBolt("split", bolts.Split(" "), 2).ShuffleFrom("sentences").ShuffleFrom("count")
	b.SetBolt("count", bolts.Count("word"), 2).FieldsFrom("split", "wrod")
	_, err := b.Build()
	fmt.Println(err)
	fmt.Println(errors.Is(err, topology.ErrCycle), errors.Is(err, topology.ErrUnknownField))
	// Output:
	// topology "broken": 3 problems:
	// 	component "sentences": invalid parallelism: 0, want at least 1
	// 	component "count" stream "default": unknown field: fields grouping field "wrod" is not among the fields [word] of "split"/"default"
	// 	component "count": cycle: count -> split -> count
	// true true
}

// A BasicFunc is the shortest bolt: it is acked when it returns nil, and
// what it emits is anchored to its input.
func ExampleBasicFunc() {
	upper := topology.BasicFunc(func(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
		out.Emit(topology.Values{strings.ToUpper(t.String("word"))})
		return nil
	})
	b := topology.NewBuilder("shout")
	b.SetSpout("words", topology.SpoutFunc(func(context.Context, topology.SpoutEmitter) error { return nil }).Factory(), 1).
		Output("word")
	b.SetBolt("upper", upper.Factory(), 2).Output("word").ShuffleFrom("words")
	topo, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range topo.Components() {
		fmt.Println(c.ID, c.Kind, c.Tasks)
	}
	// Output:
	// words spout [3]
	// upper bolt [1 2]
}

// A spec survives msgpack, which is how nodes pass it around.
func ExampleDecodeSpec() {
	b := topology.NewBuilder("tiny")
	b.SetSpout("in", gen.Sentences(gen.SentenceConfig{}), 1)
	b.SetBolt("log", bolts.Log(nil), 1).ShuffleFrom("in")
	topo, _ := b.Build()
	data, _ := topology.EncodeSpec(topo.Spec())
	spec, err := topology.DecodeSpec(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Name, len(spec.Components), spec.Validate())
	// Output:
	// tiny 2 <nil>
}

// A basic bolt that emits single strings, such as a splitter, emits them
// through StringEmitter, which the runtime's emitter backs without boxing
// each string into an interface or allocating its Values. Receivers see
// ordinary tuples; with an emitter that lacks the fast path (here, one that
// prints), EmitString falls back to EmitStream.
func ExampleStringEmitter() {
	split := topology.BasicFunc(func(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
		se, fast := out.(topology.StringEmitter)
		for w := range strings.FieldsSeq(t.String("sentence")) {
			if fast {
				se.EmitString(topology.DefaultStream, w)
			} else {
				out.Emit(topology.Values{w})
			}
		}
		return nil
	})
	in := topology.NewTuple("sentences", topology.DefaultStream, 1, topology.Fields{"sentence"}, topology.Values{"the cat sat"})
	if err := topology.Basic(split).Execute(context.Background(), in, printer{}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// default [the]
	// default [cat]
	// default [sat]
	// acked [the cat sat]
}

// printer is an Emitter that prints what it is given.
type printer struct{}

func (printer) Emit(v topology.Values, _ ...topology.Tuple) {
	fmt.Println(topology.DefaultStream, v)
}
func (printer) EmitStream(s topology.StreamID, v topology.Values, _ ...topology.Tuple) {
	fmt.Println(s, v)
}
func (printer) EmitDirect(_ topology.TaskID, s topology.StreamID, v topology.Values, _ ...topology.Tuple) {
	fmt.Println(s, v)
}
func (printer) Ack(t topology.Tuple)  { fmt.Println("acked", t.Values()) }
func (printer) Fail(t topology.Tuple) { fmt.Println("failed", t.Values()) }
func (printer) ReportError(err error) { fmt.Println("error", err) }
