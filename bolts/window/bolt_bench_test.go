package window

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

// BenchmarkWindowCount measures a keyed event-time count over real Pebble:
// each iteration executes one tuple (key i mod keys, one tuple per
// millisecond) and every 1000 tuples a watermark advances, firing the
// windows that ended.
func BenchmarkWindowCount(b *testing.B) {
	for _, bc := range []struct {
		name     string
		assigner Assigner
		keys     int
	}{
		{"tumbling/keys=100", Tumbling(time.Second), 100},
		{"tumbling/keys=10000", Tumbling(time.Second), 10000},
		{"sliding4/keys=100", Sliding(time.Second, 250*time.Millisecond), 100},
		{"session/keys=100", Session(100 * time.Millisecond), 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			store := openStore(b, b.TempDir())
			h := newHarness(b, store, scopeOf("bench", 0, 1), withCount(eventCfg(bc.assigner)), inFields)
			defer h.close()
			keys := make([]string, bc.keys)
			for i := range keys {
				keys[i] = fmt.Sprintf("key-%d", i)
			}
			vals := make(topology.Values, 3)
			tup := topology.NewTuple("src", topology.DefaultStream, 1, inFields, vals)
			n := 0
			cpu0 := cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				vals[0], vals[1], vals[2] = keys[n%len(keys)], int64(n), int64(1)
				if err := h.bolt.Execute(b.Context(), tup, h.rec); err != nil {
					b.Fatal(err)
				}
				n++
				if n%1000 == 0 {
					h.watermark(int64(n) - 200)
					h.rec.emitted = h.rec.emitted[:0]
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tuples/s")
			// The machines we share are often oversubscribed; CPU time per
			// tuple says more than wall time there.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user plus system CPU time, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
