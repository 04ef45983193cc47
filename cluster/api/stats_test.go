package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/cluster/supervisor"
)

func exposition(emitted, executed int) string {
	return fmt.Sprintf(`# TYPE gale_executor_emitted_tuples_total counter
gale_executor_emitted_tuples_total{component="split",stream="default",task="1"} %d
gale_executor_emitted_tuples_total{component="split",stream="default",task="2"} %d
# TYPE gale_executor_executed_tuples_total counter
gale_executor_executed_tuples_total{component="count",source="split",stream="default",task="3"} %d
# TYPE gale_executor_acked_tuples_total counter
gale_executor_acked_tuples_total{component="count",task="3"} %d
# TYPE other_total counter
other_total 5
`, emitted, emitted, executed, executed)
}

func TestParseStats(t *testing.T) {
	cs, err := parseStats(strings.NewReader(exposition(10, 7)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Component != "count" || cs[0].Executed != 7 || cs[0].Acked != 7 || cs[1].Component != "split" || cs[1].Emitted != 20 {
		t.Errorf("stats %+v", cs)
	}
	if _, err := parseStats(strings.NewReader("garbage{")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestSamplerRates(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := int(n.Add(1))
		fmt.Fprint(w, exposition(100*k, 50*k))
	}))
	defer srv.Close()
	s := sampler{client: srv.Client()}
	st := supervisor.Status{PID: 42, MetricsAddr: strings.TrimPrefix(srv.URL, "http://"), State: supervisor.StateRunning}
	start := time.Now()
	fig, err := s.stats(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	cs := fig.Components
	el := time.Since(start)
	// Two scrapes about a second apart: split emitted 2×100 more.
	var split ComponentStats
	for _, c := range cs {
		if c.Component == "split" {
			split = c
		}
	}
	want := 200 / el.Seconds()
	if split.Emitted != 400 || split.EmittedPerSecond < want*0.9 || split.EmittedPerSecond > 200/minInterval.Seconds()*1.01 {
		t.Errorf("split %+v after %v (want about %.0f/s)", split, el, want)
	}
	// A second call within the interval reuses the sample.
	fig2, err := s.stats(context.Background(), st)
	if cs2 := fig2.Components; err != nil || n.Load() != 2 || cs2[1].Emitted != 400 {
		t.Errorf("second call: %+v %v after %d scrapes", fig2, err, n.Load())
	}
	if _, err := s.stats(context.Background(), supervisor.Status{PID: 1}); err == nil {
		t.Error("worker without metrics address gave figures")
	}
}

// TestFiguresLatencyCapacityLag reads two expositions a second apart: the
// p99 of the execute latency over the interval, the busiest task's busy
// fraction, the task count, and the Kafka lag.
func TestFiguresLatencyCapacityLag(t *testing.T) {
	expo := func(busy1, busy2 float64, fast, slow int) string {
		return fmt.Sprintf(`# TYPE gale_executor_busy_seconds_total counter
gale_executor_busy_seconds_total{component="count",task="3"} %g
gale_executor_busy_seconds_total{component="count",task="4"} %g
# TYPE gale_executor_execute_duration_seconds histogram
gale_executor_execute_duration_seconds_bucket{component="count",task="3",le="0.001"} %d
gale_executor_execute_duration_seconds_bucket{component="count",task="3",le="0.01"} %d
gale_executor_execute_duration_seconds_bucket{component="count",task="3",le="+Inf"} %d
gale_executor_execute_duration_seconds_sum{component="count",task="3"} 1
gale_executor_execute_duration_seconds_count{component="count",task="3"} %d
# TYPE gale_kafka_consumer_lag gauge
gale_kafka_consumer_lag{partition="0",topic="clicks"} 30
gale_kafka_consumer_lag{partition="1",topic="clicks"} 12
# TYPE gale_kafka_consumer_lag_seconds gauge
gale_kafka_consumer_lag_seconds{partition="0",topic="clicks"} 2.5
gale_kafka_consumer_lag_seconds{partition="1",topic="clicks"} 0.5
`, busy1, busy2, fast, fast+slow, fast+slow, fast+slow)
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			fmt.Fprint(w, expo(10, 10, 100, 0))
			return
		}
		// In the interval: 800 fast and 200 slow executions; task 4 busy
		// for 0.5 s, task 3 for 0.1 s.
		fmt.Fprint(w, expo(10.1, 10.5, 900, 200))
	}))
	defer srv.Close()
	s := sampler{client: srv.Client()}
	st := supervisor.Status{PID: 7, MetricsAddr: strings.TrimPrefix(srv.URL, "http://"), State: supervisor.StateRunning}
	fig, err := s.stats(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(fig.Components) != 1 {
		t.Fatalf("components %+v", fig.Components)
	}
	c := fig.Components[0]
	if c.Tasks != 2 {
		t.Errorf("tasks = %d, want 2", c.Tasks)
	}
	// 1000 executions, 800 at most 1ms, 200 in (1ms, 10ms]: the 990th lies
	// in the second bucket, 19/20 of the way.
	if want := 0.001 + 0.009*190/200.0; c.P99Seconds < want*0.99 || c.P99Seconds > want*1.01 {
		t.Errorf("p99 = %v, want %v", c.P99Seconds, want)
	}
	if c.Capacity < 0.3 || c.Capacity > 0.55 {
		t.Errorf("capacity = %v, want about 0.5 over the ~1 s interval", c.Capacity)
	}
	if fig.KafkaLag != 42 || fig.KafkaLagSeconds != 2.5 || fig.KafkaPartitions != 2 {
		t.Errorf("kafka lag %v records, %v s, %d partitions; want 42, 2.5, 2", fig.KafkaLag, fig.KafkaLagSeconds, fig.KafkaPartitions)
	}
}
