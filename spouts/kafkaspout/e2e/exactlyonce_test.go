package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/bolts/kafkasink"
	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/runtime/runtimetest"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/topology"
)

// seqChecker checks that the offsets of each partition arrive without gap
// or duplicate, keeping the last offset per partition as checkpointed state
// of its own. It panics once after the first checkpoint completed, which
// makes the runtime restart the topology from its last checkpoint.
type seqChecker struct {
	failArmed  *atomic.Bool
	res        *checkResult
	st         checkState
	completed  bool
	restoredTo *atomic.Int64
	restored   *atomic.Bool
}

type checkState struct {
	Last       map[int32]int64 `json:"last"`
	Violations int             `json:"violations"`
}

type checkResult struct {
	mu sync.Mutex
	st checkState
}

func (c *seqChecker) Prepare(context.Context, *topology.Context) error {
	c.st = checkState{Last: map[int32]int64{}}
	return nil
}

func (c *seqChecker) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	if c.completed && c.failArmed.CompareAndSwap(true, false) {
		panic("injected failure")
	}
	p := t.Value(3).(int32)
	off := t.Int64("offset")
	last, ok := c.st.Last[p]
	if !ok {
		last = -1
	}
	if off != last+1 {
		c.st.Violations++
	}
	c.st.Last[p] = off
	out.Emit(topology.Values{fmt.Sprintf("%d@%d", p, off)}, t)
	out.Ack(t)
	return nil
}

func (c *seqChecker) Cleanup() error {
	c.res.mu.Lock()
	defer c.res.mu.Unlock()
	c.res.st = c.st
	return nil
}

func (c *seqChecker) Snapshot(uint64) ([]byte, error) { return json.Marshal(c.st) }
func (c *seqChecker) Restore(b []byte) error {
	if err := json.Unmarshal(b, &c.st); err != nil {
		return err
	}
	n := int64(0)
	for _, o := range c.st.Last {
		n += o + 1
	}
	c.restoredTo.Store(n)
	c.restored.Store(true)
	return nil
}
func (c *seqChecker) CheckpointComplete(uint64) { c.completed = true }

// TestExactlyOnceWithRestart runs kafka spout (2 tasks, 4 partitions) →
// checker → kafka sink in an exactly-once topology and injects a failure after the first
// checkpoint: the spouts are restored to the checkpointed offsets, so the
// checker's restored state sees every offset exactly once, and the group's
// committed offsets reach the high watermarks (committed when checkpoints
// complete).
func TestExactlyOnceWithRestart(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"in": 4, "out": 1}})
	const n = 2000 // per partition
	// Many produce calls, so fetches return small batches and the
	// failure lands mid-stream. The second half is produced once a
	// checkpoint completed (the group's offsets moved), so the injected
	// failure happens with records still to come.
	produce := func(calls int) {
		for range calls {
			if err := c.ProduceN(ctx, "in", 4, n/20, 16); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(10)
	var failArmed atomic.Bool
	failArmed.Store(true)
	var restoredTo atomic.Int64
	var restored atomic.Bool
	res := &checkResult{}
	b := topology.NewBuilder("eo")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 20 * time.Millisecond})
	b.SetSpout("kafka", kafkaspout.New(kafkaspout.Config{
		Brokers: c.Addrs(), Topics: []string{"in"}, FetchMaxBytes: 2000,
		FetchMaxWait: 20 * time.Millisecond, MaxEmitPerNext: 16,
	}), 2)
	b.SetBolt("check", func() topology.Bolt {
		return &seqChecker{failArmed: &failArmed, res: res, restoredTo: &restoredTo, restored: &restored}
	}, 1).GlobalFrom("kafka").Output("value")
	b.SetBolt("sink", kafkasink.New(kafkasink.Config{Brokers: c.Addrs(), Topic: "out", Linger: 10 * time.Millisecond}), 1).
		ShuffleFrom("check").Tick(10 * time.Millisecond)
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runtime.Run(runCtx, topo, runtime.Options{Logger: runtimetest.Logger(t), StateDir: t.TempDir()})
	}()
	runtimetest.Eventually(t, 20*time.Second, "a completed checkpoint covering records", func() bool {
		com, err := c.Committed(ctx, "gale-eo", "in")
		sum := int64(0)
		for _, o := range com {
			sum += o
		}
		return err == nil && sum > 0
	})
	produce(10)
	runtimetest.Eventually(t, 60*time.Second, "the failure, then commits at the high watermarks", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if failArmed.Load() {
			return false
		}
		com, err := c.Committed(ctx, "gale-eo", "in")
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
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.st.Violations != 0 {
		t.Fatalf("%d offsets arrived out of sequence (gap or duplicate) in the restored state", res.st.Violations)
	}
	for p := range int32(4) {
		if res.st.Last[p] != n-1 {
			t.Fatalf("partition %d: last offset %d, want %d", p, res.st.Last[p], n-1)
		}
	}
	// The sink flushed at every checkpoint: every output is in Kafka, some
	// twice (those written after the restored checkpoint).
	recs, err := c.Consume(ctx, "out")
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]int{}
	for _, r := range recs[0] {
		written[string(r.Value)]++
	}
	for p := range 4 {
		for off := range n {
			if written[fmt.Sprintf("%d@%d", p, off)] == 0 {
				t.Fatalf("output of %d@%d missing from the sink's topic", p, off)
			}
		}
	}
	if !restored.Load() {
		t.Fatal("the checker was never restored from a checkpoint; the failure did not restart the topology")
	}
	t.Logf("restored after %d of %d records; the sink wrote %d records for %d outputs", restoredTo.Load(), 4*n, len(recs[0]), 4*n)
}
