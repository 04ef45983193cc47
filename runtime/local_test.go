package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

func TestPipelineAtLeastOnceAcksEverything(t *testing.T) {
	rec := newSpoutRecord()
	out := newSink()
	b := topology.NewBuilder("pipeline")
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce})
	b.SetSpout("nums", seqFactory(1000, true, rec), 2).Output("n")
	b.SetBolt("double", topology.BasicFunc(func(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
		out.Emit(topology.Values{t.Int64("n") * 2})
		return nil
	}).Factory(), 3).ShuffleFrom("nums").Output("n2")
	b.SetBolt("sink", out.factory(), 2).FieldsFrom("double", "n2")
	startTopology(t, b, Options{})
	eventually(t, 10*time.Second, "every tuple acked", func() bool { return rec.ackedCount() == 2000 })
	if n := out.count(); n != 2000 {
		t.Errorf("sink saw %d tuples, want 2000", n)
	}
}
