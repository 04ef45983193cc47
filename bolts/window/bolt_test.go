package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

var inFields = topology.Fields{"k", "ts", "v"}

func eventCfg(a Assigner) Config {
	return Config{
		KeyFields: []string{"k"}, Assigner: a, TimeField: "ts",
		InputFields: inFields,
	}
}

func rows(es []emission) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprint(e.values))
	}
	return out
}

func TestWindowTumblingCountByEventTime(t *testing.T) {
	store := openStore(t, t.TempDir())
	reg := prometheus.NewPedanticRegistry()
	cfg := eventCfg(Tumbling(10 * time.Millisecond))
	cfg.Registerer = reg
	h := newHarness(t, store, scopeOf("count", 0, 1), withCount(cfg), inFields)
	defer h.close()

	h.tuple("a", int64(1), 1)
	h.tuple("a", time.UnixMilli(9), 1)
	h.tuple("b", int64(3), 1)
	h.tuple("a", int64(12), 1)
	if got := h.on(topology.DefaultStream); len(got) != 0 {
		t.Fatalf("fired before the watermark: %v", rows(got))
	}
	h.watermark(9) // tuples before 9 are in; [0,10) not complete
	if got := h.on(topology.DefaultStream); len(got) != 0 {
		t.Fatalf("fired at watermark 9: %v", rows(got))
	}
	h.watermark(10)
	want := []string{"[a 0 10 2]", "[b 0 10 1]"}
	if got := rows(h.on(topology.DefaultStream)); !slices.Equal(got, want) {
		t.Fatalf("at watermark 10 got %v, want %v", got, want)
	}
	h.tuple("a", int64(5), 1) // late, no lateness allowed
	if got := rows(h.on(DefaultLateStream)); !slices.Equal(got, []string{"[a 5 1]"}) {
		t.Fatalf("late stream %v", got)
	}
	h.watermark(math.MaxInt64)
	want = append(want, "[a 10 20 1]")
	if got := rows(h.on(topology.DefaultStream)); !slices.Equal(got, want) {
		t.Fatalf("at end of time got %v, want %v", got, want)
	}
	if n := h.bolt.timers.len(); n != 0 {
		t.Fatalf("%d timers left after the end of time", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gale_window_fired_total Window results emitted, re-firings of late-updated windows included.
# TYPE gale_window_fired_total counter
gale_window_fired_total{component="count",task="1",topology="t"} 3
# HELP gale_window_late_tuples_total Tuples that arrived after every window they belong to was purged, sent to the late stream.
# TYPE gale_window_late_tuples_total counter
gale_window_late_tuples_total{component="count",task="1",topology="t"} 1
`)); err != nil {
		t.Fatal(err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", probs, err)
	}
}

func withCount(cfg Config) Config {
	cfg.Aggregation = Aggregate[int64](CountAggregator{})
	cfg.OutputFields = []string{CountField}
	return cfg
}

func TestWindowConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"no window assigner", "no aggregation", "no output fields"}},
		{"two time sources", Config{Assigner: Tumbling(time.Second), TimeField: "ts", ProcessingTime: true,
			Aggregation: Aggregate[int64](CountAggregator{}), OutputFields: []string{"n"}},
			[]string{"exactly one of"}},
		{"event time without input fields", Config{Assigner: Tumbling(time.Second), TimeField: "ts",
			Aggregation: Aggregate[int64](CountAggregator{}), OutputFields: []string{"n"}},
			[]string{"InputFields"}},
		{"slide above size", Config{Assigner: Sliding(time.Second, 2*time.Second), ProcessingTime: true,
			Aggregation: Aggregate[int64](CountAggregator{}), OutputFields: []string{"n"}},
			[]string{"exceeds its size"}},
		{"count with lateness", Config{Assigner: TumblingCount(3), AllowedLateness: time.Second,
			Aggregation: Aggregate[int64](CountAggregator{}), OutputFields: []string{"n"}},
			[]string{"count windows take no"}},
		{"duplicate output", Config{Assigner: TumblingCount(3), KeyFields: []string{"count"},
			Aggregation: Aggregate[int64](CountAggregator{}), OutputFields: []string{"count"}},
			[]string{`"count" appears twice`}},
		{"sub-millisecond", Config{Assigner: Tumbling(time.Microsecond), ProcessingTime: true,
			Aggregation: Aggregate[int64](CountAggregator{}), OutputFields: []string{"n"}},
			[]string{"below 1ms"}},
		{"ok", Config{Assigner: Session(time.Second), TimeField: "ts", InputFields: []string{"ts"},
			Aggregation: Aggregate[int64](CountAggregator{}), OutputFields: []string{"n"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.EnsureDefaults()
			err := c.cfg.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestWindowInvalidConfigFailsPrepareNamingTheComponent(t *testing.T) {
	for name, f := range map[string]topology.BoltFactory{
		"empty":  New(Config{}),
		"top 0":  TopN(0, CountField, Config{KeyFields: []string{"k"}}),
		"no key": TopN(3, CountField, Config{}),
		"counts": Count(Config{Assigner: Tumbling(time.Second)}),
	} {
		err := f().Prepare(t.Context(), &topology.Context{Topology: "t", Component: "counts", Task: 3})
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "component counts task 3") {
			t.Errorf("%s: Prepare error %v", name, err)
		}
	}
}

func TestWindowKeyOfAnotherTaskFailsTheTuple(t *testing.T) {
	store := openStore(t, t.TempDir())
	h := newHarness(t, store, scopeOf("split", 0, 2), withCount(eventCfg(Tumbling(time.Second))), inFields)
	defer h.close()
	var other string
	for i := 0; other == ""; i++ {
		if k := fmt.Sprint("k", i); taskOf(k, 2) == 1 {
			other = k
		}
	}
	err := h.bolt.Execute(t.Context(), topology.NewTuple("src", topology.DefaultStream, 1, inFields, topology.Values{other, int64(1), int64(1)}), h.rec)
	if !errors.Is(err, state.ErrKeyGroupOutOfRange) || !strings.Contains(err.Error(), "fields grouping") {
		t.Fatalf("execute with another task's key: %v", err)
	}
}
