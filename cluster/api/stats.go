package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gale-stream/gale/cluster/supervisor"
)

// ComponentStats are the figures of one component in one worker, read from
// the worker's /metrics: totals since the worker started, and rates over
// the last sampling interval (zero until two samples exist).
type ComponentStats struct {
	Component        string  `json:"component"`
	Emitted          float64 `json:"emitted"`
	Executed         float64 `json:"executed"`
	Acked            float64 `json:"acked"`
	Failed           float64 `json:"failed"`
	EmittedPerSecond float64 `json:"emitted_per_second"`
	ExecutedPerSec   float64 `json:"executed_per_second"`
	AckedPerSecond   float64 `json:"acked_per_second"`
}

// WorkerInfo is a worker process with its figures, as GET /v1/workers
// returns it.
type WorkerInfo struct {
	supervisor.Status
	Components []ComponentStats `json:"components,omitempty"`
	// StatsError says why Components is missing.
	StatsError string `json:"stats_error,omitempty"`
}

// metricNames maps the runtime's counters to the fields they fill.
var metricNames = map[string]func(*ComponentStats, float64){
	"gale_executor_emitted_tuples_total":  func(c *ComponentStats, v float64) { c.Emitted += v },
	"gale_executor_executed_tuples_total": func(c *ComponentStats, v float64) { c.Executed += v },
	"gale_executor_acked_tuples_total":    func(c *ComponentStats, v float64) { c.Acked += v },
	"gale_executor_failed_tuples_total":   func(c *ComponentStats, v float64) { c.Failed += v },
}

// parseStats sums the runtime's tuple counters per component from a
// Prometheus text exposition.
func parseStats(r io.Reader) ([]ComponentStats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	by := map[string]*ComponentStats{}
	for name, add := range metricNames {
		f, ok := fams[name]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			comp := label(m, "component")
			if comp == "" {
				continue
			}
			c, ok := by[comp]
			if !ok {
				c = &ComponentStats{Component: comp}
				by[comp] = c
			}
			add(c, m.GetCounter().GetValue())
		}
	}
	out := make([]ComponentStats, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b ComponentStats) int {
		if a.Component < b.Component {
			return -1
		}
		if a.Component > b.Component {
			return 1
		}
		return 0
	})
	return out, nil
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
	at    time.Time
	stats []ComponentStats
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

func (s *sampler) scrape(ctx context.Context, addr string) ([]ComponentStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("worker /metrics: %s", resp.Status)
	}
	return parseStats(io.LimitReader(resp.Body, 16<<20))
}

// stats returns the worker's figures with rates: against the previous
// sample of the same process when it is at least minInterval old (and not
// stale), or against a fresh one taken minInterval ago.
func (s *sampler) stats(ctx context.Context, st supervisor.Status) ([]ComponentStats, error) {
	if st.MetricsAddr == "" || st.PID == 0 {
		return nil, fmt.Errorf("worker has not published its metrics address yet")
	}
	s.mu.Lock()
	prev, ok := s.last[st.PID]
	s.mu.Unlock()
	if !ok || time.Since(prev.at) > time.Minute {
		first, err := s.scrape(ctx, st.MetricsAddr)
		if err != nil {
			return nil, err
		}
		prev = sample{at: time.Now(), stats: first}
		t := time.NewTimer(minInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return first, nil
		case <-t.C:
		}
	} else if wait := minInterval - time.Since(prev.at); wait > 0 {
		return prev.stats, nil
	}
	cur, err := s.scrape(ctx, st.MetricsAddr)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	dt := now.Sub(prev.at).Seconds()
	old := map[string]ComponentStats{}
	for _, c := range prev.stats {
		old[c.Component] = c
	}
	for i := range cur {
		o := old[cur[i].Component]
		cur[i].EmittedPerSecond = max(0, cur[i].Emitted-o.Emitted) / dt
		cur[i].ExecutedPerSec = max(0, cur[i].Executed-o.Executed) / dt
		cur[i].AckedPerSecond = max(0, cur[i].Acked-o.Acked) / dt
	}
	s.mu.Lock()
	if s.last == nil {
		s.last = map[int]sample{}
	}
	s.last[st.PID] = sample{at: now, stats: cur}
	for pid, smp := range s.last {
		if time.Since(smp.at) > 5*time.Minute {
			delete(s.last, pid)
		}
	}
	s.mu.Unlock()
	return cur, nil
}
