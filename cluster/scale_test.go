//go:build !race

// The 50-node simulation runs only without the race detector: under -race
// on a loaded two-core machine, 50 memberlists in one process miss their
// (loopback-tuned) TCP timeouts and the test takes over a minute. The other
// multi-node tests cover the same code under -race.

package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Test50NodesConvergeOnOneAssignment runs 50 memberlist nodes in this
// process on loopback, with memberlist's local timings, and waits for all of
// them to agree on the members and on one assignment epoch.
func Test50NodesConvergeOnOneAssignment(t *testing.T) {
	if testing.Short() {
		t.Skip("50-node simulation skipped under -short")
	}
	const size = 50
	start := time.Now()
	nodes := make([]*Node, 0, size)
	var want []string
	for i := range size {
		id := fmt.Sprintf("node-%02d", i)
		// A longer TCP timeout than the local default: a join's push-pull
		// carries the state of up to 49 nodes, and the machine is shared.
		opts := []nodeOpt{func(c *Config) {
			c.Memberlist = func(mc *memberlist.Config) {
				LocalGossip(mc)
				mc.PushPullInterval = 2 * time.Second
				mc.TCPTimeout = 5 * time.Second
			}
		}}
		if i > 0 {
			// Two seeds, as an operator would configure them.
			opts = append(opts, withSeeds(nodes[0].GossipAddr(), nodes[(i-1)/2].GossipAddr()))
		}
		nodes = append(nodes, startNode(t, id, opts...))
		want = append(want, id)
	}
	t.Logf("50 nodes started in %v", time.Since(start))
	if err := nodes[size-1].PutTopology(testTopology("clicks", 60)); err != nil {
		t.Fatal(err)
	}
	var epoch uint64
	eventually(t, 40*time.Second, func() error {
		e, err := agreed(nodes, want)
		if err != nil {
			return err
		}
		if nodes[0].Assignment().Placement.Topology("clicks") == nil {
			return fmt.Errorf("epoch %d does not place clicks", e)
		}
		epoch = e
		return nil
	})
	a := nodes[size/2].Assignment()
	t.Logf("converged on epoch %d by %s in %v", epoch, a.Coordinator, time.Since(start))
	if a.Coordinator != "node-00" {
		t.Errorf("coordinator %s, want node-00 (the oldest)", a.Coordinator)
	}
	// 60 workers over 50 nodes of 4 slots: one or two each.
	for id, load := range a.Placement.Load() {
		if load < 1 || load > 2 {
			t.Errorf("node %s runs %d workers", id, load)
		}
	}
	coordinators := 0
	for _, n := range nodes {
		if n.IsCoordinator() {
			coordinators++
		}
	}
	if coordinators != 1 {
		t.Errorf("%d nodes think they coordinate", coordinators)
	}
}
