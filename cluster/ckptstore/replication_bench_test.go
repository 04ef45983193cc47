package ckptstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
)

// BenchmarkPutFile stores files through a node of a loopback cluster,
// replicated to 0 or 2 other nodes, and reads them back.
func BenchmarkPutFile(b *testing.B) {
	for _, bc := range []struct {
		nodes, replicas int
	}{{1, 0}, {3, 2}} {
		for _, size := range []int{64 << 10, 4 << 20} {
			b.Run(fmt.Sprintf("nodes=%d/replicas=%d/size=%dKiB", bc.nodes, bc.replicas, size>>10), func(b *testing.B) {
				c := newCluster(b, bc.nodes, clusterOpts{replicas: bc.replicas, token: "cluster-secret"})
				st := c.storage(c.nodes[0], "bench", "worker-0")
				data := bytes.Repeat([]byte("gale"), size/4)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					name := fmt.Sprintf("sst/b/%06d.sst", i%16)
					i++
					if _, err := st.PutFile(ctx, name, bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "files/s")
			})
		}
	}
	b.Run("open/size=4096KiB", func(b *testing.B) {
		c := newCluster(b, 3, clusterOpts{replicas: 2})
		st := c.storage(c.nodes[0], "bench", "worker-0")
		data := bytes.Repeat([]byte("gale"), 1<<20)
		ctx := context.Background()
		if _, err := st.PutFile(ctx, "sst/b/1.sst", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r, err := st.OpenFile(ctx, "sst/b/1.sst")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	})
}
