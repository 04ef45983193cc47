package window

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// This file checks the bolt against brute-force oracles over random
// out-of-order inputs and random watermark sequences. An oracle keeps every
// accepted tuple and recomputes each result from scratch; the bolt keeps an
// accumulator per window in Pebble. For every window, the sequence of results
// the bolt emits (first firing, then re-firings) must equal the oracle's, and
// so must the late stream.

// tb is what *testing.T and *rapid.T share.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// ev is one input event: a tuple or a watermark.
type ev struct {
	isWM bool
	wm   int64
	key  any
	ts   int64
	v    int64
}

func (e ev) String() string {
	if e.isWM {
		return fmt.Sprintf("wm(%d)", e.wm)
	}
	return fmt.Sprintf("t(%v,%d,%d)", e.key, e.ts, e.v)
}

// keys mixes types on purpose: "7" and int64(7) are two keys.
var testKeys = []any{"a", "b", "7", int64(7)}

func keyStr(k any) string { return fmt.Sprintf("%T:%v", k, k) }

func genEvents(t *rapid.T) []ev {
	n := rapid.IntRange(0, 80).Draw(t, "events")
	clock := rapid.Int64Range(-40, 40).Draw(t, "start")
	out := make([]ev, 0, n)
	for range n {
		clock += rapid.Int64Range(0, 6).Draw(t, "step")
		if rapid.IntRange(0, 3).Draw(t, "kind") == 0 {
			// may go backwards, which the bolt must ignore
			out = append(out, ev{isWM: true, wm: clock - rapid.Int64Range(-3, 25).Draw(t, "wmlag")})
			continue
		}
		out = append(out, ev{
			key: rapid.SampledFrom(testKeys).Draw(t, "key"),
			ts:  clock - rapid.Int64Range(0, 30).Draw(t, "lag"),
			v:   rapid.Int64Range(-5, 20).Draw(t, "v"),
		})
	}
	return out
}

// resultOf is the aggregate both the test aggregator and the oracle
// compute: count, sum and the sorted values, which pins down the multiset.
func resultOf(vals []int64) topology.Values {
	s := slices.Sorted(slices.Values(vals))
	var sum int64
	parts := make([]string, len(s))
	for i, v := range s {
		sum += v
		parts[i] = fmt.Sprint(v)
	}
	return topology.Values{int64(len(s)), sum, strings.Join(parts, ",")}
}

type msAcc struct {
	Vals []int64 `msgpack:"v"`
}

// multisetAgg is an incremental aggregator whose result identifies exactly
// which values a window holds.
type multisetAgg struct{}

func (multisetAgg) Init() msAcc { return msAcc{} }
func (multisetAgg) Add(a msAcc, t topology.Tuple) msAcc {
	v, _ := t.Get("v")
	n, _ := topology.ToInt64(v)
	a.Vals = append(a.Vals, n)
	return a
}
func (multisetAgg) Merge(a, b msAcc) msAcc         { return msAcc{Vals: slices.Concat(a.Vals, b.Vals)} }
func (multisetAgg) Result(a msAcc) topology.Values { return resultOf(a.Vals) }

var resultFields = []string{"n", "sum", "vals"}

// testAggregation is the incremental aggregator, or the same computation
// in full-window mode.
func testAggregation(full bool) Aggregation {
	if !full {
		return Aggregate[msAcc](multisetAgg{})
	}
	return ProcessAll(func(_ Window, _ topology.Values, tuples []topology.Values) []topology.Values {
		vals := make([]int64, len(tuples))
		for i, tv := range tuples {
			vals[i] = tv[2].(int64) // projected onto InputFields k, ts, v
		}
		return []topology.Values{resultOf(vals)}
	})
}

// owin names one window of one key in the oracles.
type owin struct {
	key        string
	start, end int64
}

// outcome is what a run produced (or must produce): the result sequence of
// each window and the late tuples in order.
type outcome struct {
	results map[owin][]string
	late    []string
}

func lateStr(key any, ts, v int64) string { return fmt.Sprintf("%s/%d/%d", keyStr(key), ts, v) }

// collect turns a run's emissions into an outcome, checking that no result
// was emitted before the watermark reached its window's end.
func collect(t tb, es []emission) outcome {
	return collectWindows(t, es, true)
}

// collectWindows is collect; timed says whether window bounds are times
// (count windows' are tuple numbers, which watermarks do not bound).
func collectWindows(t tb, es []emission, timed bool) outcome {
	o := outcome{results: map[owin][]string{}}
	for _, e := range es {
		switch e.stream {
		case topology.DefaultStream:
			w := owin{keyStr(e.values[0]), e.values[1].(int64), e.values[2].(int64)}
			if timed && e.wm < w.end {
				t.Fatalf("window %v fired at watermark %d, before its end", w, e.wm)
			}
			o.results[w] = append(o.results[w], fmt.Sprint(e.values[3:]))
		case DefaultLateStream:
			o.late = append(o.late, lateStr(e.values[0], e.values[1].(int64), e.values[2].(int64)))
		default:
			t.Fatalf("emission on unexpected stream %q", e.stream)
		}
	}
	return o
}

func compareOutcomes(t tb, got, want outcome) {
	t.Helper()
	for _, w := range slices.SortedFunc(maps.Keys(want.results), cmpOwin) {
		if g, wt := got.results[w], want.results[w]; !slices.Equal(g, wt) {
			t.Errorf("window %v: got results %v, want %v", w, g, wt)
		}
	}
	for w, g := range got.results {
		if _, ok := want.results[w]; !ok {
			t.Errorf("window %v: unexpected results %v", w, g)
		}
	}
	if !slices.Equal(got.late, want.late) {
		t.Errorf("late tuples: got %v, want %v", got.late, want.late)
	}
}

func cmpOwin(a, b owin) int {
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// oracleAligned is the brute-force oracle of tumbling and sliding windows.
func oracleAligned(events []ev, size, slide, lateness int64) outcome {
	o := outcome{results: map[owin][]string{}}
	accepted := map[owin][]int64{}
	pending := map[owin]bool{}
	wm := int64(math.MinInt64)
	fire := func(w owin) { o.results[w] = append(o.results[w], fmt.Sprint(resultOf(accepted[w]))) }
	advance := func(to int64) {
		if to <= wm {
			return
		}
		wm = to
		for w := range pending {
			if w.end <= wm {
				fire(w)
				delete(pending, w)
			}
		}
	}
	for _, e := range events {
		if e.isWM {
			advance(e.wm)
			continue
		}
		took := false
		// every start that is a multiple of slide, by brute force
		for s := e.ts - size - 2*slide; s <= e.ts; s++ {
			if ((s%slide)+slide)%slide != 0 || !(s <= e.ts && e.ts < s+size) {
				continue
			}
			w := owin{keyStr(e.key), s, s + size}
			if w.end+lateness <= wm {
				continue
			}
			took = true
			if _, ok := accepted[w]; !ok && w.end > wm {
				pending[w] = true
			}
			accepted[w] = append(accepted[w], e.v)
			if wm >= w.end {
				fire(w)
			}
		}
		if !took {
			o.late = append(o.late, lateStr(e.key, e.ts, e.v))
		}
	}
	advance(math.MaxInt64)
	return o
}

// oracleSessions is the brute-force oracle of session windows: each session
// is the list of its tuples, merged by rescanning.
func oracleSessions(events []ev, gap, lateness int64) outcome {
	type sess struct {
		key        string
		vals       []int64
		start, end int64
		pending    bool
	}
	o := outcome{results: map[owin][]string{}}
	var live []*sess
	wm := int64(math.MinInt64)
	fire := func(s *sess) {
		w := owin{s.key, s.start, s.end}
		o.results[w] = append(o.results[w], fmt.Sprint(resultOf(s.vals)))
	}
	advance := func(to int64) {
		if to <= wm {
			return
		}
		wm = to
		var keep []*sess
		for _, s := range live {
			if s.pending && s.end <= wm {
				fire(s)
				s.pending = false
			}
			if s.end+lateness > wm { // times are small: no overflow
				keep = append(keep, s)
			}
		}
		live = keep
	}
	for _, e := range events {
		if e.isWM {
			advance(e.wm)
			continue
		}
		k := keyStr(e.key)
		if e.ts+gap+lateness <= wm {
			o.late = append(o.late, lateStr(e.key, e.ts, e.v))
			continue
		}
		n := &sess{key: k, vals: []int64{e.v}, start: e.ts, end: e.ts + gap}
		var keep []*sess
		for _, s := range live {
			if s.key == k && s.start < e.ts+gap && e.ts < s.end {
				n.vals = append(n.vals, s.vals...)
				n.start, n.end = min(n.start, s.start), max(n.end, s.end)
				continue
			}
			keep = append(keep, s)
		}
		live = append(keep, n)
		n.pending = n.end > wm
		if !n.pending {
			fire(n)
		}
	}
	advance(math.MaxInt64)
	return o
}

// run feeds events to h and ends with the end of time.
func run(h *harness, events []ev, end bool) {
	for _, e := range events {
		if e.isWM {
			h.watermark(e.wm)
		} else {
			h.tuple(e.key, e.ts, e.v)
		}
	}
	if end {
		h.watermark(math.MaxInt64)
	}
}

type windowCase struct {
	name     string
	assigner Assigner
	lateness int64
	full     bool
	oracle   func([]ev) outcome
}

func drawCase(t *rapid.T, kinds ...string) windowCase {
	kind := rapid.SampledFrom(kinds).Draw(t, "assigner")
	lateness := int64(0)
	if rapid.Bool().Draw(t, "late") {
		lateness = rapid.Int64Range(1, 20).Draw(t, "lateness")
	}
	c := windowCase{name: kind, lateness: lateness, full: rapid.Bool().Draw(t, "full")}
	switch kind {
	case "tumbling":
		size := rapid.Int64Range(1, 20).Draw(t, "size")
		c.assigner = Tumbling(time.Duration(size) * time.Millisecond)
		c.oracle = func(es []ev) outcome { return oracleAligned(es, size, size, lateness) }
	case "sliding":
		size := rapid.Int64Range(1, 20).Draw(t, "size")
		slide := rapid.Int64Range(1, size).Draw(t, "slide")
		c.assigner = Sliding(time.Duration(size)*time.Millisecond, time.Duration(slide)*time.Millisecond)
		c.oracle = func(es []ev) outcome { return oracleAligned(es, size, slide, lateness) }
	case "count": // no oracle here: count windows have their own test
		size := rapid.IntRange(1, 8).Draw(t, "size")
		c.assigner = SlidingCount(size, rapid.IntRange(1, size).Draw(t, "slide"))
		c.lateness = 0
	case "session":
		gap := rapid.Int64Range(1, 15).Draw(t, "gap")
		c.assigner = Session(time.Duration(gap) * time.Millisecond)
		c.oracle = func(es []ev) outcome { return oracleSessions(es, gap, lateness) }
	}
	return c
}

func (c windowCase) config() Config {
	cfg := Config{
		KeyFields:       []string{"k"},
		Assigner:        c.assigner,
		TimeField:       "ts",
		AllowedLateness: time.Duration(c.lateness) * time.Millisecond,
		Aggregation:     testAggregation(c.full),
		OutputFields:    resultFields,
		InputFields:     inFields,
	}
	if c.name == "count" {
		cfg.TimeField = ""
	}
	return cfg
}

func testAgainstOracle(t *testing.T, kinds ...string) {
	store := openStore(t, t.TempDir())
	iter := 0
	var refired, late, lateAccepted int
	defer func() {
		// The generator must reach the cases that matter, or passing proves
		// little.
		if !t.Failed() && (refired == 0 || late == 0 || lateAccepted == 0) {
			t.Errorf("generator too tame: %d re-fired windows, %d late tuples, %d runs with lateness", refired, late, lateAccepted)
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		c := drawCase(rt, kinds...)
		events := genEvents(rt)
		iter++
		h := newHarness(t, store, scopeOf(fmt.Sprintf("w%d", iter), 0, 1), c.config(), inFields)
		defer h.close()
		run(h, events, true)
		if h.rec.failed != 0 || len(h.rec.errs) != 0 {
			rt.Fatalf("failed %d, errors %v", h.rec.failed, h.rec.errs)
		}
		got := collect(rt, h.rec.emitted)
		compareOutcomes(rt, got, c.oracle(events))
		for _, rs := range got.results {
			if len(rs) > 1 {
				refired++
			}
		}
		late += len(got.late)
		if c.lateness > 0 {
			lateAccepted++
		}
		if n := h.bolt.timers.len(); n != 0 {
			rt.Fatalf("%d timers left after the end of time", n)
		}
	})
}

func TestWindowTumblingMatchesOracle(t *testing.T) { testAgainstOracle(t, "tumbling") }
func TestWindowSlidingMatchesOracle(t *testing.T)  { testAgainstOracle(t, "sliding") }
func TestWindowSessionMatchesOracle(t *testing.T)  { testAgainstOracle(t, "session") }

// TestWindowCountMatchesOracle checks count windows, which fire on the
// tuple that completes them, against a per-key replay.
func TestWindowCountMatchesOracle(t *testing.T) {
	store := openStore(t, t.TempDir())
	iter := 0
	rapid.Check(t, func(rt *rapid.T) {
		size := rapid.IntRange(1, 8).Draw(rt, "size")
		slide := rapid.IntRange(1, size).Draw(rt, "slide")
		full := rapid.Bool().Draw(rt, "full")
		events := genEvents(rt)
		iter++
		cfg := Config{KeyFields: []string{"k"}, Assigner: SlidingCount(size, slide),
			Aggregation: testAggregation(full), OutputFields: resultFields, InputFields: inFields}
		h := newHarness(t, store, scopeOf(fmt.Sprintf("c%d", iter), 0, 1), cfg, inFields)
		defer h.close()
		run(h, events, true)

		var want []string
		seen := map[string][]int64{}
		for _, e := range events {
			if e.isWM {
				continue
			}
			k := keyStr(e.key)
			seen[k] = append(seen[k], e.v)
			if n := len(seen[k]); n%slide == 0 {
				start := max(0, n-size)
				want = append(want, fmt.Sprint(k, " ", start, " ", n, " ", resultOf(seen[k][start:n])))
			}
		}
		var got []string
		for _, e := range h.rec.emitted {
			if e.stream != topology.DefaultStream {
				rt.Fatalf("emission on %q", e.stream)
			}
			got = append(got, fmt.Sprint(keyStr(e.values[0]), " ", e.values[1], " ", e.values[2], " ", e.values[3:]))
		}
		if !slices.Equal(got, want) {
			rt.Fatalf("got %v\nwant %v", got, want)
		}
	})
}

// TestWindowRestoreMatchesUninterruptedRun runs half the input, checkpoints
// the state store, restores it into a fresh store — with the same or another
// parallelism, routing tuples by key group as the fields grouping does — and
// feeds the rest. The results must equal those of an uninterrupted run.
func TestWindowRestoreMatchesUninterruptedRun(t *testing.T) {
	dir := t.TempDir()
	whole := openStore(t, dir+"/whole")
	first := openStore(t, dir+"/first")
	second := openStore(t, dir+"/second")
	storage, err := state.NewDirStorage(dir + "/checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	iter := 0
	rapid.Check(t, func(rt *rapid.T) {
		c := drawCase(rt, "tumbling", "sliding", "session", "count")
		events := genEvents(rt)
		cut := rapid.IntRange(0, len(events)).Draw(rt, "cut")
		parallelism := rapid.IntRange(1, 3).Draw(rt, "parallelism")
		iter++
		comp := fmt.Sprintf("r%d", iter)

		h := newHarness(t, whole, scopeOf(comp, 0, 1), c.config(), inFields)
		run(h, events, true)
		h.close()
		want := h.rec.emitted

		h1 := newHarness(t, first, scopeOf(comp, 0, 1), c.config(), inFields)
		run(h1, events[:cut], false)
		if err := h1.be.FlushForCheckpoint(t.Context(), uint64(iter)); err != nil {
			rt.Fatal(err)
		}
		if _, err := first.Checkpoint(t.Context(), uint64(iter), storage); err != nil {
			rt.Fatal(err)
		}
		h1.close()

		scopes := make([]state.Scope, parallelism)
		for i := range scopes {
			scopes[i] = scopeOf(comp, i, parallelism)
		}
		if err := second.Restore(t.Context(), storage, uint64(iter), scopes); err != nil {
			rt.Fatal(err)
		}
		hs := make([]*harness, parallelism)
		for i := range hs {
			hs[i] = newHarness(t, second, scopes[i], c.config(), inFields)
			hs[i].rec.wm = h1.rec.wm
			defer hs[i].close()
		}
		for _, e := range events[cut:] {
			if e.isWM {
				for _, h := range hs {
					h.watermark(e.wm)
				}
				continue
			}
			hs[taskOf(e.key, parallelism)].tuple(e.key, e.ts, e.v)
		}
		got := slices.Clone(h1.rec.emitted)
		for _, h := range hs {
			h.watermark(math.MaxInt64)
			got = append(got, h.rec.emitted...)
		}
		if parallelism == 1 {
			if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
				rt.Fatalf("restored run emitted\n%v\nuninterrupted\n%v", g, w)
			}
			return
		}
		g, w := collectWindows(rt, got, c.name != "count"), collectWindows(rt, want, c.name != "count")
		sort.Strings(g.late)
		sort.Strings(w.late)
		compareOutcomes(rt, g, w)
	})
}
