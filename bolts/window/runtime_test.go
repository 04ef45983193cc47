package window

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/runtime/runtimetest"
	"github.com/gale-stream/gale/spouts/testspout"
	"github.com/gale-stream/gale/topology"
)

// sink collects what a topology's bolts emit, by source component and
// stream.
type sink struct {
	mu   sync.Mutex
	rows map[string][]string
}

func (s *sink) bolt() topology.BoltFactory {
	return topology.BasicFunc(func(_ context.Context, t topology.Tuple, _ topology.BasicEmitter) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := fmt.Sprintf("%s/%s", t.Source(), t.Stream())
		s.rows[k] = append(s.rows[k], fmt.Sprint(t.Values()))
		return nil
	}).Factory()
}

func (s *sink) get(k string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.rows[k]))
}

// TestWindowCountAndTopNInRuntime runs spout → keyed event-time Count (3
// tasks, fields grouping) → sink, and the same into TopN (global) → sink,
// through the runtime, which
// generates the watermarks, hands the bolts their keyed state, and sends
// the end of time when the spouts finish. Each spout task emits in time
// order, so nothing is late and every window fires once with its exact
// count.
func TestWindowCountAndTopNInRuntime(t *testing.T) {
	const n = 3000
	keys := []string{"a", "b", "c", "d", "e"}
	var values []topology.Values
	counts := map[string]int{} // "key start" → count
	for i := range n {
		k := keys[(i*i+i/7)%len(keys)]
		ts := int64(i / 3) // three tuples a millisecond; 100 windows of 10ms
		values = append(values, topology.Values{k, ts, int64(1)})
		counts[fmt.Sprint(k, " ", ts/10*10)]++
	}
	var wantCounts []string
	byWindow := map[int64][][2]any{}
	for kw, c := range counts {
		var k string
		var start int64
		fmt.Sscan(kw, &k, &start)
		wantCounts = append(wantCounts, fmt.Sprint([]any{k, start, start + 10, int64(c)}))
		byWindow[start] = append(byWindow[start], [2]any{k, c})
	}
	var wantTop []string
	for start, kcs := range byWindow {
		sort.Slice(kcs, func(i, j int) bool {
			if kcs[i][1].(int) != kcs[j][1].(int) {
				return kcs[i][1].(int) > kcs[j][1].(int)
			}
			return kcs[i][0].(string) < kcs[j][0].(string) // one-byte keys: encoding order is string order
		})
		for r, kc := range kcs[:min(2, len(kcs))] {
			wantTop = append(wantTop, fmt.Sprint([]any{start, start + 10, int64(r + 1), kc[0], int64(kc[1].(int))}))
		}
	}
	slices.Sort(wantCounts)
	slices.Sort(wantTop)

	out := &sink{rows: map[string][]string{}}
	b := topology.NewBuilder("windows")
	// Two identical chains rather than one fanning out: the runtime
	// delivers one tuple object to every subscriber, and two tasks acking it
	// race (reported to the runtime's owner).
	countCfg := Config{
		KeyFields: []string{"k"}, Assigner: Tumbling(10 * time.Millisecond), TimeField: "ts",
		InputFields: []string{"k", "ts", "v"},
	}
	for _, chain := range []string{"", "2"} {
		in := topology.ComponentID("in" + chain)
		b.SetSpout(in, testspout.FromSlice(values, testspout.Split(), testspout.WithFields("k", "ts", "v")), 2).
			EventTime(topology.EventTime{Field: "ts", OutOfOrderness: 5 * time.Millisecond, Interval: 5 * time.Millisecond})
		b.SetBolt(topology.ComponentID("counts"+chain), Count(countCfg), 3).FieldsFrom(in, "k")
	}
	b.SetBolt("top", TopN(2, CountField, Config{KeyFields: []string{"k"}}), 1).GlobalFrom("counts2")
	b.SetBolt("sink", out.bolt(), 1).
		GlobalFrom("counts").
		GlobalFrom("top").
		Subscribe("counts", DefaultLateStream, topology.Global()).
		Subscribe("counts2", DefaultLateStream, topology.Global())
	h := runtimetest.Start(t, b)
	defer func() {
		if t.Failed() {
			out.mu.Lock()
			for k, v := range out.rows {
				t.Logf("%s: %d rows", k, len(v))
			}
			out.mu.Unlock()
		}
	}()
	// The last window ends after the last watermark the spouts send while
	// running (largest time − out-of-orderness); it fires on the end of time,
	// which follows the spouts' end when the topology stops.
	h.Eventually("every window but the last counted and ranked", func() bool {
		return len(out.get("counts/default")) >= len(wantCounts)-len(keys) && len(out.get("top/default")) >= len(wantTop)-2
	})
	h.Stop()
	if got := out.get("counts/default"); !slices.Equal(got, wantCounts) {
		t.Errorf("counts: got %d rows, want %d\ngot  %v\nwant %v", len(got), len(wantCounts), got, wantCounts)
	}
	if got := out.get("top/default"); !slices.Equal(got, wantTop) {
		t.Errorf("top: got %d rows, want %d\ngot  %v\nwant %v", len(got), len(wantTop), got, wantTop)
	}
	if late := slices.Concat(out.get("counts/late"), out.get("counts2/late")); len(late) != 0 {
		t.Errorf("late tuples: %v", late)
	}
	// one firing per key and window upstream, one per window in TopN
	fired := map[string]float64{}
	mfs, err := h.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gale_window_fired_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "component" {
					fired[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if fired["counts"] != float64(len(wantCounts)) || fired["counts2"] != float64(len(wantCounts)) || fired["top"] != float64(len(byWindow)) {
		t.Errorf("gale_window_fired_total by component %v, want counts %d, top %d", fired, len(wantCounts), len(byWindow))
	}
}
