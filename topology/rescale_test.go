package topology_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gale-stream/gale/topology"
)

// TestWithParallelismMatchesBuild: a spec rescaled with WithParallelism
// equals the spec of the same program built with SetParallelism, so a
// cluster that rescales a spec and a worker that builds the program agree
// on every task id.
func TestWithParallelismMatchesBuild(t *testing.T) {
	p := map[topology.ComponentID]int{"sessions": 7, "clicks": 1}
	got, err := fullTopology(t).Spec().WithParallelism(p)
	if err != nil {
		t.Fatalf("WithParallelism: %v", err)
	}
	for _, c := range got.Components {
		if n, ok := p[c.ID]; ok && (c.Parallelism != n || len(c.Tasks) != n) {
			t.Errorf("%s: parallelism %d with %d tasks, want %d", c.ID, c.Parallelism, len(c.Tasks), n)
		}
	}

	b := fullBuilder()
	for id, n := range p {
		b.SetParallelism(id, n)
	}
	topo, err := b.Build()
	if err != nil {
		t.Fatalf("Build with SetParallelism: %v", err)
	}
	if want := topo.Spec(); !reflect.DeepEqual(got, want) {
		t.Errorf("rescaled spec differs from the built one:\n got %+v\nwant %+v", got.Components, want.Components)
	}
	if orig := fullTopology(t).Spec(); reflect.DeepEqual(orig.Components, got.Components) {
		t.Error("WithParallelism changed nothing")
	}
}

func TestWithParallelismRefuses(t *testing.T) {
	spec := fullTopology(t).Spec()
	for name, tc := range map[string]struct {
		p    map[topology.ComponentID]int
		want error
	}{
		"unknown component":     {map[topology.ComponentID]int{"nope": 2}, topology.ErrUnknownComponent},
		"zero":                  {map[topology.ComponentID]int{"sessions": 0}, topology.ErrParallelism},
		"above max parallelism": {map[topology.ComponentID]int{"sessions": spec.Config.MaxParallelism + 1}, topology.ErrInvalidConfig},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := spec.WithParallelism(tc.p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("WithParallelism(%v) = %v, want %v", tc.p, err, tc.want)
			}
		})
	}
	b := fullBuilder().SetParallelism("ghost", 3)
	if _, err := b.Build(); !errors.Is(err, topology.ErrUnknownComponent) || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("Build with SetParallelism of an unknown component: %v", err)
	}
}
