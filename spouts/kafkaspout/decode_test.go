package kafkaspout

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

// TestDecodersAndMap: JSON values and string keys come out decoded; a value
// that does not decode counts as a failure and follows OnFailure; Map
// replaces the conversion and declares its own fields.
func TestDecodersAndMap(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}})
	if err := c.Produce(ctx,
		kafkatest.Record{Topic: "t", Key: []byte("a"), Value: []byte(`{"n":1}`)},
		kafkatest.Record{Topic: "t", Key: []byte("b"), Value: []byte(`{broken`)},
		kafkatest.Record{Topic: "t", Key: []byte("c"), Value: []byte(`[2]`)},
	); err != nil {
		t.Fatal(err)
	}

	t.Run("json", func(t *testing.T) {
		cfg := fastConfig(c, "t")
		cfg.KeyDecoder, cfg.ValueDecoder = String, JSON
		cfg.OnFailure, cfg.MaxRetries = Skip, 1
		s := openSpout(t, cfg, testContext("dec", 0, 1, topology.AtLeastOnce, 100))
		var got []emitted
		var r recorder
		waitFor(t, 10*time.Second, "records 0 and 2, and 1 skipped", func() bool {
			_ = s.Next(ctx, &r)
			for _, e := range r.take() {
				got = append(got, e)
				s.Ack(e.id)
			}
			cp, _ := s.parts[topicPartition{"t", 0}].tr.commitPoint()
			return cp == 3
		})
		if len(got) != 2 || got[0].vals[0] != "a" || got[1].vals[0] != "c" {
			t.Fatalf("emitted %v", got)
		}
		if m := got[0].vals[1].(map[string]any); m["n"] != 1.0 {
			t.Fatalf("decoded %v", got[0].vals[1])
		}
		if len(r.errs) < 2 { // the broken record failed twice: first try and one retry
			t.Fatalf("reported %d errors, want 2", len(r.errs))
		}
		var se *json.SyntaxError
		if !errors.As(r.errs[0], &se) {
			t.Fatalf("reported %v, want a JSON syntax error", r.errs[0])
		}
		if v := testutil.ToFloat64(s.parts[topicPartition{"t", 0}].m.skipped); v != 1 {
			t.Fatalf("skipped %v, want 1", v)
		}
	})

	t.Run("map", func(t *testing.T) {
		cfg := fastConfig(c, "t")
		cfg.Group = "map"
		cfg.OutputFields = topology.Fields{"id", "size"}
		cfg.Map = func(r *Record) (topology.Values, error) {
			return topology.Values{string(r.Key) + "@" + r.Topic, len(r.Value)}, nil
		}
		f := New(cfg)
		var o topology.Outputs
		f().(topology.OutputDeclarer).DeclareOutputs(&o)
		b := topology.NewBuilder("m")
		b.SetSpout("k", f, 1)
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		comp, _ := topo.Component("k")
		st, _ := comp.Output(topology.DefaultStream)
		if len(st.Fields) != 2 || st.Fields[0] != "id" {
			t.Fatalf("declared fields %v", st.Fields)
		}
		s := openSpout(t, cfg, testContext("map", 0, 1, topology.AtLeastOnce, 100))
		var got []emitted
		pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) { got = append(got, e); s.Ack(e.id) }, func() bool { return len(got) == 3 })
		if got[1].vals[0] != "b@t" || got[1].vals[1] != 7 {
			t.Fatalf("mapped %v", got[1].vals)
		}
	})
}
