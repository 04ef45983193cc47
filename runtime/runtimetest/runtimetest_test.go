package runtimetest_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/runtime/runtimetest"
	"github.com/gale-stream/gale/spouts/testspout"
	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFeedAndWait feeds words through a channel spout into a counting
// topology and waits for the counts.
func TestFeedAndWait(t *testing.T) {
	feed := make(chan topology.Values, 10)
	counts := bolts.NewCounts()
	b := topology.NewBuilder("feed")
	b.SetSpout("in", testspout.FromChan(feed, testspout.WithFields("word"), testspout.Reliable()), 1)
	b.SetBolt("count", bolts.Count("word", bolts.Into(counts), bolts.Silent()), 2).FieldsFrom("in", "word")
	h := runtimetest.Start(t, b)
	for _, w := range []string{"a", "b", "a", "c", "a"} {
		feed <- topology.Values{w}
	}
	h.Eventually("five words counted", func() bool { return counts.Total() == 5 })
	if got := counts.Get("a"); got != 3 {
		t.Errorf("count of a = %d, want 3", got)
	}
	h.Stop()
}
