package binstore

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
)

// BenchmarkStage measures storing a binary (write, fsync, hash, rename)
// and verifying it on read, by binary size.
func BenchmarkStage(b *testing.B) {
	for _, size := range []int{1 << 20, 32 << 20} {
		content := make([]byte, size)
		rand.Read(content)
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			s, err := Open(b.TempDir(), 0)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				st, err := s.Stage(bytes.NewReader(content), nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := st.Commit(); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Path(st.SHA256); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "binaries/s")
		})
	}
}
