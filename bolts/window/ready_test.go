package window

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/topology"
)

func TestWindowProcessingTimeFiresOnTicksAndTuples(t *testing.T) {
	store := openStore(t, t.TempDir())
	var now int64
	cfg := Config{
		KeyFields: []string{"k"}, Assigner: Tumbling(10 * time.Millisecond), ProcessingTime: true,
		Clock: func() time.Time { return time.UnixMilli(now) },
	}
	h := newHarness(t, store, scopeOf("pt", 0, 1), withCount(cfg), topology.Fields{"k"})
	defer h.close()
	step := func(at int64, f func(), want ...string) {
		t.Helper()
		now = at
		h.rec.wm = max(h.rec.wm, at)
		before := len(h.rec.emitted)
		f()
		if got := rows(h.rec.emitted[before:]); !slices.Equal(got, want) {
			t.Fatalf("at %dms got %v, want %v", at, got, want)
		}
	}
	step(3, func() { h.tuple("a") })
	step(7, func() { h.tuple("a"); h.tuple("b") })
	step(9, h.tick)
	step(12, h.tick, "[a 0 10 2]", "[b 0 10 1]")
	step(15, func() { h.tuple("a") })
	step(19, h.tick)
	step(25, func() { h.tuple("b") }, "[a 10 20 1]") // the tuple's arrival fires what ended
	step(30, h.tick, "[b 20 30 1]")
	step(31, func() { h.tuple("c") })
	step(32, func() { h.watermark(1000) })                         // processing time ignores watermarks...
	step(33, func() { h.watermark(math.MaxInt64) }, "[c 30 40 1]") // ...but the end of input
	if n := h.bolt.timers.len(); n != 0 {
		t.Fatalf("%d timers left", n)
	}
	if len(h.on(DefaultLateStream)) != 0 {
		t.Fatal("processing time produced late tuples")
	}
}

func TestWindowSumIntegersThenFloats(t *testing.T) {
	store := openStore(t, t.TempDir())
	cfg := Config{KeyFields: []string{"k"}, Assigner: TumblingCount(3)}
	for _, c := range []struct {
		name string
		vals []any
		want string
	}{
		{"ints", []any{int8(1), 2, int64(3)}, "[a 0 3 6]"},
		{"floats", []any{1, 2.5, float32(0.5)}, "[a 0 3 4]"},
		{"non-numbers add nothing", []any{1, "x", nil}, "[a 0 3 1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := Sum("v", cfg)().(*bolt)
			h := newHarnessFor(t, store, scopeOf("sum-"+c.name, 0, 1), b, topology.Fields{"k", "v"})
			defer h.close()
			for _, v := range c.vals {
				h.tuple("a", v)
			}
			if got := rows(h.rec.emitted); !slices.Equal(got, []string{c.want}) {
				t.Fatalf("got %v, want %s", got, c.want)
			}
			if _, isFloat := h.rec.emitted[0].values[3].(float64); isFloat != (c.name == "floats") {
				t.Fatalf("sum is %T", h.rec.emitted[0].values[3])
			}
		})
	}
}

func TestWindowMissingTimeAndKey(t *testing.T) {
	store := openStore(t, t.TempDir())
	h := newHarness(t, store, scopeOf("bad", 0, 1), withCount(eventCfg(Tumbling(time.Second))), topology.Fields{"k", "other"})
	defer h.close()
	h.tuple("a", 1) // no ts field: reported, acked, counted nowhere
	if len(h.rec.errs) != 1 || !errors.Is(h.rec.errs[0], ErrNoTime) {
		t.Fatalf("errors %v", h.rec.errs)
	}
	h2 := newHarness(t, store, scopeOf("bad2", 0, 1), withCount(eventCfg(Tumbling(time.Second))), topology.Fields{"ts"})
	defer h2.close()
	err := h2.bolt.Execute(context.Background(), topology.NewTuple("src", "default", 1, topology.Fields{"ts"}, topology.Values{int64(5)}), h2.rec)
	if !errors.Is(err, ErrNoKey) {
		t.Fatalf("execute without key: %v", err)
	}
	h.watermark(math.MaxInt64)
	h2.watermark(math.MaxInt64)
	if len(h.rec.emitted)+len(h2.rec.emitted) != 0 {
		t.Fatalf("emitted %v %v", h.rec.emitted, h2.rec.emitted)
	}
}

// TestWindowTopNAfterCountMatchesOracle runs a keyed windowed count into a
// TopN over random out-of-order input with lateness, forwarding results and
// watermarks in the order the runtime does. TopN's last ranking of every
// window must be the top n of the count's final results.
func TestWindowTopNAfterCountMatchesOracle(t *testing.T) {
	store := openStore(t, t.TempDir())
	iter := 0
	refired := 0
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 3).Draw(rt, "n")
		size := rapid.Int64Range(1, 15).Draw(rt, "size")
		lateness := time.Duration(rapid.Int64Range(0, 15).Draw(rt, "lateness")) * time.Millisecond
		events := genEvents(rt)
		iter++
		cc := eventCfg(Tumbling(time.Duration(size) * time.Millisecond))
		cc.AllowedLateness = lateness
		count := newHarnessFor(t, store, scopeOf(fmt.Sprintf("count%d", iter), 0, 1), Count(cc)().(*bolt), inFields)
		defer count.close()
		topFields := topology.Fields{"k", StartField, EndField, CountField}
		top := newHarnessFor(t, store, scopeOf(fmt.Sprintf("top%d", iter), 0, 1),
			TopN(n, CountField, Config{KeyFields: []string{"k"}, AllowedLateness: lateness})().(*bolt), topFields)
		defer top.close()

		fwd := 0
		forward := func() {
			for _, e := range count.rec.emitted[fwd:] {
				if e.stream == topology.DefaultStream {
					top.tuple(e.values...)
				}
			}
			fwd = len(count.rec.emitted)
		}
		for _, e := range append(events, ev{isWM: true, wm: math.MaxInt64}) {
			if e.isWM {
				count.watermark(e.wm)
				forward()
				top.watermark(e.wm)
				continue
			}
			count.tuple(e.key, e.ts, e.v)
			forward()
		}
		if len(top.on(DefaultLateStream)) != 0 {
			rt.Fatalf("TopN found results late: %v", top.on(DefaultLateStream))
		}

		// oracle: final count per key and window, ranked
		type kc struct {
			key   any
			count int64
		}
		final := map[[2]int64]map[string]kc{}
		for _, e := range count.on(topology.DefaultStream) {
			w := [2]int64{e.values[1].(int64), e.values[2].(int64)}
			if final[w] == nil {
				final[w] = map[string]kc{}
			}
			final[w][keyStr(e.values[0])] = kc{e.values[0], e.values[3].(int64)}
		}
		want := map[[2]int64][]string{}
		for w, m := range final {
			entries := slices.Collect(maps.Values(m))
			slices.SortFunc(entries, func(a, b kc) int {
				if c := cmp.Compare(b.count, a.count); c != 0 {
					return c
				}
				return bytes.Compare(keygroup.AppendKey(nil, a.key), keygroup.AppendKey(nil, b.key))
			})
			for i, e := range entries[:min(n, len(entries))] {
				want[w] = append(want[w], fmt.Sprint(w[0], " ", w[1], " ", i+1, " ", keyStr(e.key), " ", e.count))
			}
		}
		// TopN's firings: rows of one firing are consecutive, rank 1 first
		got := map[[2]int64][]string{}
		firings := map[[2]int64]int{}
		for _, e := range top.on(topology.DefaultStream) {
			w := [2]int64{e.values[0].(int64), e.values[1].(int64)}
			if e.wm < w[1] {
				rt.Fatalf("TopN fired window %v at watermark %d", w, e.wm)
			}
			if e.values[2].(int64) == 1 {
				got[w] = nil
				firings[w]++
			}
			got[w] = append(got[w], fmt.Sprint(w[0], " ", w[1], " ", e.values[2], " ", keyStr(e.values[3]), " ", e.values[4]))
		}
		for w, f := range firings {
			if f > 1 {
				refired++
			}
			_ = w
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			rt.Fatalf("TopN final rankings\n%v\nwant\n%v", got, want)
		}
	})
	if refired == 0 {
		t.Error("no TopN window ever re-fired: the generator misses lateness")
	}
}

func TestWindowProcessingTimeSessions(t *testing.T) {
	store := openStore(t, t.TempDir())
	var now int64
	cfg := Config{
		KeyFields: []string{"k"}, Assigner: Session(5 * time.Millisecond), ProcessingTime: true,
		Clock: func() time.Time { return time.UnixMilli(now) },
	}
	h := newHarness(t, store, scopeOf("pts", 0, 1), withCount(cfg), topology.Fields{"k"})
	defer h.close()
	for _, s := range []struct {
		at   int64
		do   string // key of a tuple, or "" for a tick
		want []string
	}{
		{1, "a", nil},
		{3, "a", nil}, // merges: [1, 8)
		{4, "b", nil}, // [4, 9)
		{7, "", nil},
		{8, "", []string{"[a 1 8 2]"}},
		{9, "a", []string{"[b 4 9 1]"}}, // the arrival fires b first; a starts anew
		{14, "", []string{"[a 9 14 1]"}},
	} {
		now = s.at
		h.rec.wm = s.at
		before := len(h.rec.emitted)
		if s.do == "" {
			h.tick()
		} else {
			h.tuple(s.do)
		}
		if got := rows(h.rec.emitted[before:]); !slices.Equal(got, s.want) {
			t.Fatalf("at %dms got %v, want %v", s.at, got, s.want)
		}
	}
}
