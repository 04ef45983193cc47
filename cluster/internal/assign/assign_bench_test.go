package assign

import (
	"fmt"
	"testing"
)

func BenchmarkCompute(b *testing.B) {
	for _, tc := range []struct {
		nodes int
		topos []Topology
		model string
	}{
		{100, manyTopologies(10000), "10-worker-topologies"},
		{1000, manyTopologies(100000), "10-worker-topologies"},
		{1000, singleTaskWorkers(100000), "single-task-workers"},
	} {
		workers := 0
		for _, t := range tc.topos {
			workers += t.Workers
		}
		in := Input{Nodes: nodes(tc.nodes, 100), Topologies: tc.topos}
		b.Run(fmt.Sprintf("nodes=%d/workers=%d/%s/cold", tc.nodes, workers, tc.model), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compute(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(workers)*float64(b.N)/b.Elapsed().Seconds(), "workers/s")
		})
		prev, err := Compute(in)
		if err != nil {
			b.Fatal(err)
		}
		leave := Input{Nodes: in.Nodes[1:], Topologies: tc.topos, Previous: prev}
		b.Run(fmt.Sprintf("nodes=%d/workers=%d/%s/leave", tc.nodes, workers, tc.model), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compute(leave); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(workers)*float64(b.N)/b.Elapsed().Seconds(), "workers/s")
		})
	}
}
