package gen

import (
	"fmt"
	"testing"

	"github.com/gale-stream/gale/topology"
)

// discard is a SpoutEmitter that drops everything and counts.
type discard struct{ n int }

func (d *discard) Emit(topology.Values, any)                          { d.n++ }
func (d *discard) EmitStream(topology.StreamID, topology.Values, any) { d.n++ }
func (d *discard) EmitDirect(topology.TaskID, topology.StreamID, topology.Values, any) {
	d.n++
}
func (d *discard) ReportError(error) {}

func BenchmarkNext(b *testing.B) {
	for _, reliable := range []bool{false, true} {
		b.Run(fmt.Sprintf("reliable=%v", reliable), func(b *testing.B) {
			s := Sentences(SentenceConfig{Seed: 1, Reliable: reliable})().(*sentenceSpout)
			if err := s.Open(b.Context(), &topology.Context{Component: "gen"}); err != nil {
				b.Fatal(err)
			}
			var d discard
			b.ReportAllocs()
			for b.Loop() {
				before := d.n
				if err := s.Next(b.Context(), &d); err != nil {
					b.Fatal(err)
				}
				if reliable { // ack at once, so pending stays small
					for id := s.nextID - uint64(d.n-before) + 1; id <= s.nextID; id++ {
						s.Ack(id)
					}
				}
			}
			b.ReportMetric(float64(d.n)/b.Elapsed().Seconds(), "sentences/s")
		})
	}
}
