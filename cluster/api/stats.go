package api

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gale-stream/gale/cluster/supervisor"
)

// ComponentStats are the figures of one component in one worker, read from
// the worker's /metrics: totals since the worker started, and rates,
// latency and capacity over the last sampling interval (zero until two
// samples exist).
type ComponentStats struct {
	Component        string  `json:"component"`
	Tasks            int     `json:"tasks"`
	Emitted          float64 `json:"emitted"`
	Executed         float64 `json:"executed"`
	Acked            float64 `json:"acked"`
	Failed           float64 `json:"failed"`
	EmittedPerSecond float64 `json:"emitted_per_second"`
	ExecutedPerSec   float64 `json:"executed_per_second"`
	AckedPerSecond   float64 `json:"acked_per_second"`
	// P99Seconds is the 99th percentile over the interval of the execute
	// latency (bolts) or the complete latency (spouts).
	P99Seconds float64 `json:"p99_seconds"`
	// Capacity is the busiest task's busy fraction over the interval: near 1
	// the component is the bottleneck.
	Capacity float64 `json:"capacity"`

	busy map[string]float64  // busy seconds by task
	hist map[float64]float64 // cumulative latency counts by upper bound, summed over tasks
}

// WorkerFigures are a worker's figures: per component, and its Kafka
// consumer lag (summed over its partitions).
type WorkerFigures struct {
	Components      []ComponentStats `json:"components,omitempty"`
	KafkaLag        float64          `json:"kafka_lag_records"`
	KafkaLagSeconds float64          `json:"kafka_lag_seconds"`
	KafkaPartitions int              `json:"kafka_partitions"`
}

// WorkerInfo is a worker process with its figures, as GET /v1/workers
// returns it.
type WorkerInfo struct {
	supervisor.Status
	WorkerFigures
	// StatsError says why the figures are missing.
	StatsError string `json:"stats_error,omitempty"`
}

// metricNames maps the runtime's counters to the fields they fill.
var metricNames = map[string]func(*ComponentStats, float64){
	"gale_executor_emitted_tuples_total":  func(c *ComponentStats, v float64) { c.Emitted += v },
	"gale_executor_executed_tuples_total": func(c *ComponentStats, v float64) { c.Executed += v },
	"gale_executor_acked_tuples_total":    func(c *ComponentStats, v float64) { c.Acked += v },
	"gale_executor_failed_tuples_total":   func(c *ComponentStats, v float64) { c.Failed += v },
	"gale_spout_acked_tuples_total":       func(c *ComponentStats, v float64) { c.Acked += v },
	"gale_spout_failed_tuples_total":      func(c *ComponentStats, v float64) { c.Failed += v },
}

// latencyNames are the histograms P99Seconds is computed from.
var latencyNames = []string{"gale_executor_execute_duration_seconds", "gale_spout_complete_duration_seconds"}

// parseStats sums the runtime's tuple counters per component from a
// Prometheus text exposition.
func parseStats(r io.Reader) ([]ComponentStats, error) {
	f, err := parseFigures(r)
	return f.Components, err
}

// parseFigures reads a worker's figures from a Prometheus text exposition.
func parseFigures(r io.Reader) (WorkerFigures, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return WorkerFigures{}, err
	}
	by := map[string]*ComponentStats{}
	comp := func(m *dto.Metric) *ComponentStats {
		name := label(m, "component")
		if name == "" {
			return nil
		}
		c, ok := by[name]
		if !ok {
			c = &ComponentStats{Component: name, busy: map[string]float64{}, hist: map[float64]float64{}}
			by[name] = c
		}
		if task := label(m, "task"); task != "" {
			if _, seen := c.busy[task]; !seen {
				c.busy[task] = 0
			}
		}
		return c
	}
	for name, add := range metricNames {
		for _, m := range fams[name].GetMetric() {
			if c := comp(m); c != nil {
				add(c, m.GetCounter().GetValue())
			}
		}
	}
	for _, m := range fams["gale_executor_busy_seconds_total"].GetMetric() {
		if c := comp(m); c != nil {
			c.busy[label(m, "task")] = m.GetCounter().GetValue()
		}
	}
	for _, name := range latencyNames {
		for _, m := range fams[name].GetMetric() {
			c := comp(m)
			if c == nil {
				continue
			}
			inf := false
			for _, bk := range m.GetHistogram().GetBucket() {
				c.hist[bk.GetUpperBound()] += float64(bk.GetCumulativeCount())
				inf = inf || math.IsInf(bk.GetUpperBound(), 1)
			}
			if !inf { // the text format may leave the +Inf bucket implicit
				c.hist[math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	var f WorkerFigures
	for _, m := range fams["gale_kafka_consumer_lag"].GetMetric() {
		f.KafkaLag += m.GetGauge().GetValue()
		f.KafkaPartitions++
	}
	for _, m := range fams["gale_kafka_consumer_lag_seconds"].GetMetric() {
		f.KafkaLagSeconds = max(f.KafkaLagSeconds, m.GetGauge().GetValue())
	}
	for _, c := range by {
		c.Tasks = len(c.busy)
		f.Components = append(f.Components, *c)
	}
	slices.SortFunc(f.Components, func(a, b ComponentStats) int { return strings.Compare(a.Component, b.Component) })
	return f, nil
}

// quantile estimates quantile q of the observations between two cumulative
// histograms, interpolating linearly within a bucket as Prometheus'
// histogram_quantile does. It returns 0 without observations.
func quantile(q float64, cur, prev map[float64]float64) float64 {
	bounds := make([]float64, 0, len(cur))
	for b := range cur {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return 0
	}
	total := cur[math.Inf(1)] - prev[math.Inf(1)]
	if total <= 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		n := cur[b] - prev[b]
		if n >= rank {
			if math.IsInf(b, 1) {
				return lower // beyond the largest finite bucket
			}
			if n == below {
				return b
			}
			return lower + (b-lower)*(rank-below)/(n-below)
		}
		lower, below = b, n
	}
	return lower
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

type sample struct {
	at  time.Time
	fig WorkerFigures
}

// sampler scrapes local workers' /metrics and derives rates from the
// previous sample of the same process.
type sampler struct {
	client *http.Client
	mu     sync.Mutex
	last   map[int]sample // by pid
}

// minInterval is the shortest interval rates are computed over; a status
// request without a sample that old waits for one.
const minInterval = time.Second

func (s *sampler) scrape(ctx context.Context, addr string) (WorkerFigures, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return WorkerFigures{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return WorkerFigures{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return WorkerFigures{}, fmt.Errorf("worker /metrics: %s", resp.Status)
	}
	return parseFigures(io.LimitReader(resp.Body, 16<<20))
}

// stats returns the worker's figures with rates: against the previous
// sample of the same process when it is at least minInterval old (and not
// stale), or against a fresh one taken minInterval ago.
func (s *sampler) stats(ctx context.Context, st supervisor.Status) (WorkerFigures, error) {
	if st.MetricsAddr == "" || st.PID == 0 {
		return WorkerFigures{}, fmt.Errorf("worker has not published its metrics address yet")
	}
	s.mu.Lock()
	prev, ok := s.last[st.PID]
	s.mu.Unlock()
	if !ok || time.Since(prev.at) > time.Minute {
		first, err := s.scrape(ctx, st.MetricsAddr)
		if err != nil {
			return WorkerFigures{}, err
		}
		prev = sample{at: time.Now(), fig: first}
		t := time.NewTimer(minInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return first, nil
		case <-t.C:
		}
	} else if wait := minInterval - time.Since(prev.at); wait > 0 {
		return prev.fig, nil
	}
	cur, err := s.scrape(ctx, st.MetricsAddr)
	if err != nil {
		return WorkerFigures{}, err
	}
	now := time.Now()
	dt := now.Sub(prev.at).Seconds()
	old := map[string]ComponentStats{}
	for _, c := range prev.fig.Components {
		old[c.Component] = c
	}
	for i := range cur.Components {
		c := &cur.Components[i]
		o := old[c.Component]
		c.EmittedPerSecond = max(0, c.Emitted-o.Emitted) / dt
		c.ExecutedPerSec = max(0, c.Executed-o.Executed) / dt
		c.AckedPerSecond = max(0, c.Acked-o.Acked) / dt
		c.P99Seconds = quantile(0.99, c.hist, o.hist)
		for task, busy := range c.busy {
			c.Capacity = max(c.Capacity, min(1, max(0, busy-o.busy[task])/dt))
		}
	}
	s.mu.Lock()
	if s.last == nil {
		s.last = map[int]sample{}
	}
	s.last[st.PID] = sample{at: now, fig: cur}
	for pid, smp := range s.last {
		if time.Since(smp.at) > 5*time.Minute {
			delete(s.last, pid)
		}
	}
	s.mu.Unlock()
	return cur, nil
}
