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
	cs, err := s.stats(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
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
	cs2, err := s.stats(context.Background(), st)
	if err != nil || n.Load() != 2 || cs2[1].Emitted != 400 {
		t.Errorf("second call: %+v %v after %d scrapes", cs2, err, n.Load())
	}
	if _, err := s.stats(context.Background(), supervisor.Status{PID: 1}); err == nil {
		t.Error("worker without metrics address gave figures")
	}
}
