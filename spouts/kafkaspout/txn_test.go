package kafkaspout

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

// TestTransactionMarkers reads a partition written by a transactional
// producer: the control records (markers) are not emitted, the position
// moves past them, so the commit reaches the high watermark and the lag 0.
// With ReadCommitted, records of aborted transactions are not emitted.
func TestTransactionMarkers(t *testing.T) {
	for _, readCommitted := range []bool{false, true} {
		t.Run(fmt.Sprintf("read-committed=%v", readCommitted), func(t *testing.T) {
			ctx := t.Context()
			c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}})
			batch := func(tag string) []kafkatest.Record {
				var rs []kafkatest.Record
				for i := range 5 {
					rs = append(rs, kafkatest.Record{Topic: "t", Value: fmt.Appendf(nil, "%s%d", tag, i)})
				}
				return rs
			}
			if err := c.ProduceTransaction(ctx, "tx", true, batch("a")...); err != nil {
				t.Fatal(err)
			}
			if err := c.ProduceTransaction(ctx, "tx", false, batch("x")...); err != nil { // aborted
				t.Fatal(err)
			}
			if err := c.ProduceTransaction(ctx, "tx", true, batch("b")...); err != nil {
				t.Fatal(err)
			}
			hw, err := c.HighWatermarks(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			if hw[0] != 18 { // 15 records and 3 markers
				t.Fatalf("high watermark %d, want 18", hw[0])
			}
			reg := prometheus.NewRegistry()
			cfg := fastConfig(c, "t")
			cfg.Registerer, cfg.ReadCommitted = reg, readCommitted
			s := openSpout(t, cfg, testContext("txn", 0, 1, topology.AtLeastOnce, 100))
			want := 15
			if readCommitted {
				want = 10
			}
			var got []string
			pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) {
				got = append(got, string(e.vals[1].([]byte)))
				s.Ack(e.id)
			}, func() bool { return len(got) >= want })
			for _, v := range got {
				if readCommitted && v[0] == 'x' {
					t.Fatalf("read %s of an aborted transaction with ReadCommitted", v)
				}
			}
			waitFor(t, 5*time.Second, "commit at the high watermark and lag 0", func() bool {
				time.Sleep(10 * time.Millisecond)
				_ = s.Next(ctx, &recorder{})
				com, err := c.Committed(ctx, "gale-txn", "t")
				lag, _ := gauge(t, reg, "gale_kafka_consumer_lag", "t", 0)
				return err == nil && com[0] == 18 && lag == 0
			})
			if len(got) != want {
				t.Fatalf("read %d records, want %d", len(got), want)
			}
		})
	}
}
