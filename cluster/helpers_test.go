package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

type nodeOpt func(*Config)

func withSeeds(seeds ...string) nodeOpt { return func(c *Config) { c.Seeds = seeds } }

// testConfig is a loopback config with memberlist's local timings.
func testConfig(id string, opts ...nodeOpt) Config {
	c := Config{
		NodeID:            id,
		GossipKey:         testKey,
		Logger:            testLogger(),
		ReconcileInterval: 100 * time.Millisecond,
		SettleTime:        50 * time.Millisecond,
		Memberlist: func(mc *memberlist.Config) {
			LocalGossip(mc)
			// Quicker push-pull and dead reaping keep loopback tests short.
			mc.PushPullInterval = 2 * time.Second
		},
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// startNode starts a node that the test shuts down at cleanup.
func startNode(t testing.TB, id string, opts ...nodeOpt) *Node {
	t.Helper()
	n, err := Start(context.Background(), testConfig(id, opts...))
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return n
}

// eventually polls cond every 50ms until it returns nil or timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// aliveIDs lists the ids n sees alive.
func aliveIDs(n *Node) []string {
	var ids []string
	for _, m := range n.Members() {
		if m.Alive() {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// agreed checks that every node sees want alive and that all hold the same
// assignment epoch, computed for exactly those nodes. It returns the epoch.
func agreed(nodes []*Node, want []string) (uint64, error) {
	var epoch uint64
	for i, n := range nodes {
		if got := aliveIDs(n); fmt.Sprint(got) != fmt.Sprint(want) {
			return 0, fmt.Errorf("%s sees alive %v, want %v", n.ID(), got, want)
		}
		a := n.Assignment()
		if a == nil {
			return 0, fmt.Errorf("%s has no assignment", n.ID())
		}
		var ids []string
		for _, an := range a.Nodes {
			ids = append(ids, an.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			return 0, fmt.Errorf("%s: epoch %d was computed for %v, want %v", n.ID(), a.Epoch, ids, want)
		}
		if i == 0 {
			epoch = a.Epoch
		} else if a.Epoch != epoch {
			return 0, fmt.Errorf("%s has epoch %d, %s has %d", n.ID(), a.Epoch, nodes[0].ID(), epoch)
		}
	}
	return epoch, nil
}

func testTopology(name string, workers int) TopologyInfo {
	return TopologyInfo{
		Name:           name,
		Workers:        workers,
		MaxParallelism: 128,
		Components: []Component{
			{Name: "count", Parallelism: 8, FirstTask: 1},
			{Name: "sentences", Parallelism: 2, FirstTask: 9},
			{Name: "split", Parallelism: 4, FirstTask: 11},
		},
		BinarySHA256: [32]byte{1, 2, 3},
		Spec:         []byte(`{"name":"` + name + `"}`),
	}
}

func gaugeValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metric
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func testLogger() *slog.Logger {
	if os.Getenv("GALE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
