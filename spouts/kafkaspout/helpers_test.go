package kafkaspout

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeBenchCluster()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// emitted is one tuple a spout emitted.
type emitted struct {
	vals topology.Values
	id   any
}

// recorder is a SpoutEmitter test double that records what is emitted.
type recorder struct {
	tuples []emitted
	errs   []error
}

func (r *recorder) Emit(v topology.Values, id any) { r.tuples = append(r.tuples, emitted{v, id}) }
func (r *recorder) EmitStream(_ topology.StreamID, v topology.Values, id any) {
	r.Emit(v, id)
}
func (r *recorder) EmitDirect(_ topology.TaskID, _ topology.StreamID, v topology.Values, id any) {
	r.Emit(v, id)
}
func (r *recorder) ReportError(err error) { r.errs = append(r.errs, err) }

// take returns and forgets what was emitted so far.
func (r *recorder) take() []emitted {
	out := r.tuples
	r.tuples = nil
	return out
}

func testContext(topo string, index, parallelism int, g topology.Guarantee, maxPending int) *topology.Context {
	cfg := topology.Config{Guarantee: g, MaxSpoutPending: maxPending}.WithDefaults()
	return &topology.Context{
		Topology: topo, Component: "kafka", Task: topology.TaskID(index + 1),
		Index: index, Parallelism: parallelism, Config: cfg,
		Logger: slog.New(slog.DiscardHandler).With("topology", topo, "task", index+1),
	}
}

// openSpout opens a spout on the cluster and closes it at the end of the test.
func openSpout(t testing.TB, cfg Config, tc *topology.Context) *Spout {
	t.Helper()
	s := New(cfg)().(*Spout)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Open(ctx, tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fastConfig is a config with short intervals for tests.
func fastConfig(c *kafkatest.Cluster, topics ...string) Config {
	return Config{
		Brokers: c.Addrs(), Topics: topics,
		CommitInterval: 20 * time.Millisecond, LagInterval: 100 * time.Millisecond, MetadataInterval: 200 * time.Millisecond,
		FetchMaxWait: 50 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
	}
}

// pump calls Next on every spout until cond holds, acking every tuple with
// ack (nil: ack all), bounded by timeout.
func pump(t testing.TB, spouts []*Spout, timeout time.Duration, onTuple func(s *Spout, e emitted), cond func() bool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	recs := make([]recorder, len(spouts))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v", timeout)
		}
		idle := true
		for i, s := range spouts {
			if err := s.Next(ctx, &recs[i]); err != nil {
				t.Fatalf("Next: %v", err)
			}
			for _, e := range recs[i].take() {
				idle = false
				onTuple(s, e)
			}
		}
		if idle {
			time.Sleep(time.Millisecond)
		}
	}
}

// rid describes a tuple's record, as "topic/partition@offset".
func rid(e emitted) string {
	return fmt.Sprintf("%s/%d@%d", e.vals[2], e.vals[3], e.vals[4])
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
