package cluster

import (
	"fmt"
	"testing"

	"github.com/gale-stream/gale/cluster/internal/assign"
)

// bigState is the gossip state of n topologies of 10 workers with three
// components each, on 100 nodes.
func bigState(tb testing.TB, topologies int) *wireState {
	tb.Helper()
	var nodes []assign.Node
	for i := range 100 {
		nodes = append(nodes, assign.Node{ID: fmt.Sprintf("node-%03d", i), Slots: 100})
	}
	ws := &wireState{}
	var in []assign.Topology
	versions := map[string]uint64{}
	for i := range topologies {
		t := testTopology(fmt.Sprintf("topology-%05d", i), 10)
		t.Version, t.UpdatedBy = 1, "node-000"
		ws.Topologies = append(ws.Topologies, &t)
		in = append(in, t.input())
		versions[t.Name] = 1
	}
	p, err := assign.Compute(assign.Input{Nodes: nodes, Topologies: in, Epoch: 1})
	if err != nil {
		tb.Fatal(err)
	}
	ws.Assignment = &Assignment{Epoch: 1, Coordinator: "node-000", Nodes: nodes, Topologies: versions, Placement: p}
	return ws
}

// TestStateSizeFitsPushPull checks that the state of 1,000 topologies
// (10,000 workers) stays well inside memberlist's 20 MB push-pull limit.
func TestStateSizeFitsPushPull(t *testing.T) {
	b, err := encodeMessage(msgState, bigState(t, 1000))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("state of 1000 topologies, 10000 workers, 100 nodes: %d bytes (%.0f per worker)", len(b), float64(len(b))/10000)
	if len(b) > maxMessage/4 {
		t.Fatalf("state is %d bytes, want under %d", len(b), maxMessage/4)
	}
}

func BenchmarkStateCodec(b *testing.B) {
	for _, n := range []int{10, 1000} {
		ws := bigState(b, n)
		enc, err := encodeMessage(msgState, ws)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("topologies=%d/encode", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := encodeMessage(msgState, ws); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes/state")
		})
		b.Run(fmt.Sprintf("topologies=%d/decode", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeMessage(enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes/state")
		})
	}
}
