package topology

import "testing"

func TestSetNameRenamesTheTopology(t *testing.T) {
	b := NewBuilder("program")
	b.SetSpout("s", SpoutFunc(nil).Factory(), 1).Output("x")
	b.SetName("submitted")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if topo.Name() != "submitted" || topo.Spec().Name != "submitted" {
		t.Errorf("name %q, spec name %q; want submitted", topo.Name(), topo.Spec().Name)
	}
}
