// Command kafkacount-cluster counts words read from Kafka, exactly once, as a
// cluster topology binary: its main hands the topology to gale.Main, so the
// same binary runs locally, prints its spec, submits itself, or runs as a
// worker started by a gale node.
//
//	go build -o /tmp/kc ./examples/kafkacount-cluster
//	KAFKACOUNT_BROKERS=127.0.0.1:9092 /tmp/kc run --state-dir /tmp/kc-state
//	gale submit /tmp/kc --name kc --config '{"checkpoint_interval": "500ms"}'
//
// # The topology
//
//	words (Kafka spout) ──fields(word)──▶ count (keyed state) ──fields(word)──▶ out (Kafka sink)
//
// Every record of the input topic holds one word as its value. The count
// bolt keeps a counter per word in keyed state and, for each input, emits
// the word and its running count; the sink writes one record per input to
// the output topic, keyed by the word, with the count as decimal text in
// the value and the input's position ("topic/partition/offset") in the
// gale-id header.
//
// # Delivery
//
// The topology is exactly-once: the spout's offsets and the counters are
// checkpointed together (every checkpoint interval, 1s by default; change
// it at submission with --config), and after a failure — a worker killed,
// a node lost — the topology restores the last complete checkpoint, the
// spout rewinds to its offsets and replays. So the counters are exact: for
// every word, the highest count written equals the number of its records in
// the input. The sink is at-least-once (see bolts/kafkasink): every count
// from 1 to the final one is written at least once, and the records written
// between the restored checkpoint and the failure are written again, with
// the same gale-id. A consumer that keeps the highest count per key, or
// drops records whose gale-id it has seen, reads exact results.
//
// When no complete checkpoint exists, the counters start empty, so the
// spout then reads each partition from its earliest record, not from the
// group's committed offsets: starting empty from committed offsets would
// lose the counts of everything before them.
//
// # Configuration
//
// Brokers and topics come from the environment of the process (a gale
// node hands its own environment to the workers it starts):
//
//   - KAFKACOUNT_BROKERS: comma-separated bootstrap brokers (default
//     127.0.0.1:9092);
//   - KAFKACOUNT_INPUT: the topic of words (default "words");
//   - KAFKACOUNT_OUTPUT: the topic of counts (default "word-counts");
//   - KAFKACOUNT_SPOUT_TASKS: the Kafka spout's parallelism (default 4,
//     one task per partition of a four-partition topic; tasks beyond the
//     number of partitions stay idle).
//
// Every node must hand its workers the same values: the workers of a
// topology build it from their own environment, and the parallelism decides
// the task ids they share.
//
// The spout commits the checkpointed offsets under the consumer group
// "gale-NAME" (NAME: the submitted name), where Kafka's tools see the
// topology's lag.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gale-stream/gale"
	"github.com/gale-stream/gale/bolts/kafkasink"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// Environment variables the program reads.
const (
	EnvBrokers = "KAFKACOUNT_BROKERS"
	EnvInput   = "KAFKACOUNT_INPUT"
	EnvOutput  = "KAFKACOUNT_OUTPUT"
	EnvSpouts  = "KAFKACOUNT_SPOUT_TASKS"
)

// Parallelism of the count and sink components. Six count tasks give every
// worker of a topology spread over up to six workers some of the keyed
// state.
const (
	countTasks = 6
	sinkTasks  = 2
)

// DefaultSpoutTasks is the spout's parallelism unless KAFKACOUNT_SPOUT_TASKS
// says otherwise.
const DefaultSpoutTasks = 4

func main() {
	spouts := DefaultSpoutTasks
	if v := os.Getenv(EnvSpouts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "kafkacount: %s=%q: want a positive number\n", EnvSpouts, v)
			os.Exit(2)
		}
		spouts = n
	}
	gale.Main(Topology(
		strings.Split(envOr(EnvBrokers, "127.0.0.1:9092"), ","),
		envOr(EnvInput, "words"),
		envOr(EnvOutput, "word-counts"),
		spouts,
	))
}

// Topology returns the builder of the word count from topic in to topic
// out on brokers, with spoutTasks Kafka spout tasks.
func Topology(brokers []string, in, out string, spoutTasks int) *topology.Builder {
	b := topology.NewBuilder("kafkacount")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: time.Second})
	b.SetSpout("words", kafkaspout.New(kafkaspout.Config{
		Brokers: brokers,
		Topics:  []string{in},
		Start:   kafkaspout.Earliest,
		Map: func(r *kafkaspout.Record) (topology.Values, error) {
			return topology.Values{string(r.Value), fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)}, nil
		},
		OutputFields: topology.Fields{"word", "id"},
	}), spoutTasks)
	b.SetBolt("count", func() topology.Bolt { return &counter{} }, countTasks).
		FieldsFrom("words", "word").Output("word", "count", "id")
	b.SetBolt("out", kafkasink.New(kafkasink.Config{
		Brokers: brokers,
		Topic:   out,
		Linger:  20 * time.Millisecond,
		Map: func(t topology.Tuple) (kafkasink.Message, error) {
			return kafkasink.Message{
				Key:   []byte(t.String("word")),
				Value: strconv.AppendInt(nil, t.Int64("count"), 10),
			}, nil
		},
		ID: func(t topology.Tuple) []byte { return []byte(t.String("id")) },
	}), sinkTasks).FieldsFrom("count", "word").Tick(20 * time.Millisecond)
	return b
}

// counter counts its inputs per word in keyed state: the runtime binds the
// state to the word of each tuple (the field the grouping hashes), so each
// word's counter lives in the task that owns its key group, is checkpointed
// with it and moves with it.
type counter struct {
	n *state.Counter
}

func (c *counter) Prepare(_ context.Context, tc *topology.Context) error {
	be, err := state.BackendOf(tc)
	if err != nil {
		return fmt.Errorf("kafkacount: %s task %d: %w", tc.Component, tc.Index, err)
	}
	c.n = state.NewCounter(be, "count")
	return nil
}

func (c *counter) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	n, err := c.n.Add(1)
	if err != nil {
		return err
	}
	out.Emit(topology.Values{t.String("word"), n, t.String("id")}, t)
	out.Ack(t)
	return nil
}

func (c *counter) Cleanup() error { return nil }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
