package deploy_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/kafkatest"
)

// boundedLabels are the label names gale metrics may carry. Each has a
// value set bounded by the topology or the cluster (components, tasks,
// streams, partitions, states), never by the data: no tuple ids, keys or
// offsets.
var boundedLabels = []string{
	"topology", "component", "task", "stream", "source", // runtime
	"topic", "partition", "policy", // Kafka spout
	"state", "role", "kind", // cluster, transport
	"le", "quantile", // histograms, summaries
}

// TestMetricCardinality runs the word count and the Kafka topology over n
// and then 10×n inputs, each on a fresh registry, and asserts both runs
// export exactly the same series: the series count of a topology does not
// grow with the number of tuples. It also asserts every label name is one
// of boundedLabels.
func TestMetricCardinality(t *testing.T) {
	const n = 200
	small := countedRun(t, n)
	large := countedRun(t, 10*n)
	for _, topo := range []string{wordsTopology, clicksTopology} {
		if len(small[topo]) == 0 {
			t.Fatalf("topology %s exported no series", topo)
		}
		if !slices.Equal(small[topo], large[topo]) {
			t.Errorf("topology %s: %d series after %d inputs, %d after %d:\nonly small: %v\nonly large: %v",
				topo, len(small[topo]), n, len(large[topo]), 10*n, minus(small[topo], large[topo]), minus(large[topo], small[topo]))
			continue
		}
		t.Logf("topology %s: %d series after %d and after %d inputs", topo, len(small[topo]), n, 10*n)
	}
}

// countedRun runs both topologies until n sentences and n records per
// partition completed, and returns the sorted series identities (name and
// labels) per topology label.
func countedRun(t *testing.T, n int) map[string][]string {
	var series map[string][]string
	t.Run(fmt.Sprintf("inputs=%d", n), func(t *testing.T) {
		reg := prometheus.NewRegistry()
		logger := quietLogger(t)
		words, err := wordsBuilder(int64(n), 0).Build()
		if err != nil {
			t.Fatal(err)
		}
		startTopology(t, words, reg, logger)

		const partitions = 3
		k := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{clicksTopic: partitions, sessionsTopic: 1}})
		if err := k.ProduceN(t.Context(), clicksTopic, partitions, n, 32); err != nil {
			t.Fatal(err)
		}
		clicks, err := clicksBuilder(k.Addrs(), reg).Build()
		if err != nil {
			t.Fatal(err)
		}
		startTopology(t, clicks, reg, logger)

		deadline := time.Now().Add(30 * time.Second)
		for counterSum(t, reg, "gale_spout_acked_tuples_total", wordsTopology) < float64(n) ||
			counterSum(t, reg, "gale_spout_acked_tuples_total", clicksTopology) < float64(partitions*n) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %v of %d sentences and %v of %d records completed", counterSum(t, reg, "gale_spout_acked_tuples_total", wordsTopology), n,
					counterSum(t, reg, "gale_spout_acked_tuples_total", clicksTopology), partitions*n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Offsets are committed on an interval, and the commit metrics
		// appear with the first commit: wait for the commits of everything,
		// the natural end of a Kafka run, so both runs end in the same state.
		deadline = time.Now().Add(30 * time.Second)
		for {
			com, err := k.Committed(t.Context(), "gale-"+clicksTopology, clicksTopic)
			done := err == nil && len(com) == partitions
			for _, off := range com {
				done = done && off == int64(n)
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for commits at offset %d: %v %v", n, com, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if failed := counterSum(t, reg, "gale_spout_failed_tuples_total", wordsTopology); failed == 0 {
			t.Fatal("no sentence failed: the flaky bolt did not run, so failure series were not exercised")
		}
		series = seriesByTopology(t, reg)
	})
	return series
}

// seriesByTopology returns every series of g as "name{labels}", sorted,
// grouped by the value of its topology label, and fails the test on a label
// name outside boundedLabels.
func seriesByTopology(t *testing.T, g prometheus.Gatherer) map[string][]string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if !slices.Contains(boundedLabels, l.GetName()) {
					t.Errorf("%s has label %s=%q, which is not a bounded label", mf.GetName(), l.GetName(), l.GetValue())
				}
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			topo := labelValue(m, "topology")
			out[topo] = append(out[topo], mf.GetName()+"{"+strings.Join(labels, ",")+"}")
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// minus returns the elements of a not in b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
