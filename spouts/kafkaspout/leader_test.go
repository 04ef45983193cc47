package kafkaspout

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

// TestLeaderMoves moves partition leaders between three brokers while the
// spout reads: no record is lost or repeated.
func TestLeaderMoves(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 3}, Brokers: 3})
	const n = 300
	// Many small produce calls make many record batches, so fetches return
	// a few records each and the moves land mid-stream.
	for range n / 10 {
		if err := c.ProduceN(ctx, "t", 3, 10, 10); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	cfg := fastConfig(c, "t")
	cfg.Registerer = reg
	cfg.FetchMaxBytes = 500 // many small fetches, so moves land mid-stream
	s := openSpout(t, cfg, testContext("leader", 0, 1, topology.AtLeastOnce, 100))
	next := map[int32]int64{}
	moves := 0
	check := func(s *Spout, e emitted) {
		p, off := e.vals[3].(int32), e.vals[4].(int64)
		if off != next[p] {
			t.Fatalf("partition %d: offset %d after %d", p, off, next[p]-1)
		}
		next[p]++
		s.Ack(e.id)
	}
	for moves < 3 {
		target := int64(moves+1) * n / 4
		pump(t, []*Spout{s}, 20*time.Second, check, func() bool { return next[0]+next[1]+next[2] >= 3*target })
		for p := range int32(3) {
			kc := c.Kfake()
			leader := kc.LeaderFor("t", p)
			if err := kc.MoveTopicPartition("t", p, (leader+1)%3); err != nil {
				t.Fatal(err)
			}
		}
		moves++
	}
	pump(t, []*Spout{s}, 30*time.Second, check, func() bool { return next[0] == n && next[1] == n && next[2] == n })
	errs := 0.0
	for p := range int32(3) {
		v, _ := gauge(t, reg, "gale_kafka_consumer_fetch_errors_total", "t", p)
		errs += v
	}
	t.Logf("%d leader moves per partition, %v fetch errors retried", moves, errs)
}
