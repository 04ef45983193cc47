package e2e

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/bolts/kafkasink"
	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/runtime/runtimetest"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/topology"
)

// TestPipelineOnRuntime runs kafka spout (2 tasks) → a bolt that fails
// the first attempt of about 10% of the records → kafka sink, on the
// in-process runtime: every input record reaches the output topic (at
// least once), the group's committed offsets reach the high watermarks,
// and the lag metric reaches 0.
func TestPipelineOnRuntime(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"in": 4, "out": 2}})
	const n = 250 // per partition
	if err := c.ProduceN(ctx, "in", 4, n, 16); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	attempts := map[string]int{}
	failOnce := topology.BoltFunc(func(ctx context.Context, tp topology.Tuple, out topology.Emitter) error {
		id := fmt.Sprintf("%s/%d@%d", tp.String("topic"), tp.Value(3), tp.Int64("offset"))
		h := fnv.New32a()
		h.Write([]byte(id))
		mu.Lock()
		attempts[id]++
		first := attempts[id] == 1
		mu.Unlock()
		if first && h.Sum32()%10 == 0 {
			out.Fail(tp)
			return nil
		}
		out.Emit(topology.Values{tp.Bytes("key"), []byte(id)}, tp)
		out.Ack(tp)
		return nil
	})
	b := topology.NewBuilder("pipe")
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce, MessageTimeout: 5 * time.Second})
	b.SetSpout("kafka", kafkaspout.New(kafkaspout.Config{
		Brokers: c.Addrs(), Topics: []string{"in"}, Registerer: reg,
		CommitInterval: 50 * time.Millisecond, LagInterval: 100 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond, FetchMaxWait: 50 * time.Millisecond,
	}), 2)
	b.SetBolt("work", failOnce.Factory(), 2).ShuffleFrom("kafka").Output("key", "value")
	b.SetBolt("sink", kafkasink.New(kafkasink.Config{
		Brokers: c.Addrs(), Topic: "out", BatchSize: 50, Linger: 20 * time.Millisecond,
	}), 1).ShuffleFrom("work").Tick(20 * time.Millisecond)
	h := runtimetest.Start(t, b)

	runtimetest.Eventually(t, 30*time.Second, "committed offsets at the high watermarks", func() bool {
		com, err := c.Committed(ctx, "gale-pipe", "in")
		if err != nil {
			return false
		}
		for p := range int32(4) {
			if com[p] != n {
				return false
			}
		}
		return true
	})
	runtimetest.Eventually(t, 10*time.Second, "lag 0", func() bool {
		for p := range 4 {
			for _, name := range []string{"gale_kafka_consumer_lag", "gale_kafka_consumer_committed_lag"} {
				v, err := gatherOne(reg, name, "in", p)
				if err != nil || v != 0 {
					return false
				}
			}
		}
		return true
	})
	h.Stop()
	out, err := c.Consume(ctx, "out")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, recs := range out {
		for _, r := range recs {
			got[string(r.Value)] = true
		}
	}
	for p := range 4 {
		for off := range n {
			if id := fmt.Sprintf("in/%d@%d", p, off); !got[id] {
				t.Fatalf("record %s missing from the output", id)
			}
		}
	}
	mu.Lock()
	retried := 0
	for _, a := range attempts {
		if a > 1 {
			retried++
		}
	}
	mu.Unlock()
	if retried == 0 {
		t.Fatal("no record was replayed; the failure injection did not work")
	}
	t.Logf("%d records, %d replayed", 4*n, retried)
}

func gatherOne(reg *prometheus.Registry, name, topic string, partition int) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var tp, pp string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "topic":
					tp = l.GetValue()
				case "partition":
					pp = l.GetValue()
				}
			}
			if tp == topic && pp == fmt.Sprint(partition) {
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("no series %s{topic=%s,partition=%d}", name, topic, partition)
}
