package bolts

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func TestMap(t *testing.T) {
	boom := errors.New("boom")
	f := Map(func(in topology.Tuple) (topology.Values, error) {
		w := in.String("word")
		switch w {
		case "skip":
			return nil, nil
		case "bad":
			return nil, boom
		}
		return topology.Values{strings.ToUpper(w), len(w)}, nil
	}, "upper", "len")
	if got := outputs(t, f); !slices.Equal(got, topology.Fields{"upper", "len"}) {
		t.Errorf("outputs = %v", got)
	}
	b := prepared(t, f)
	r, err := execute(t, b, word("go"))
	if err != nil || len(r.emits) != 1 || !slices.Equal(r.emits[0].values, topology.Values{"GO", 2}) {
		t.Errorf("map(go) = %v, %v", r.emits, err)
	}
	r, err = execute(t, b, word("skip"))
	if err != nil || len(r.emits) != 0 {
		t.Errorf("map(skip) = %v, %v", r.emits, err)
	}
	r, err = execute(t, b, word("bad"))
	if !errors.Is(err, boom) || len(r.emits) != 0 {
		t.Errorf("map(bad) = %v, %v", r.emits, err)
	}
}

func TestFilter(t *testing.T) {
	f := Filter(func(in topology.Tuple) bool { return in.Int64("n")%2 == 0 }, "name", "n")
	if got := outputs(t, f); !slices.Equal(got, topology.Fields{"name", "n"}) {
		t.Errorf("outputs = %v", got)
	}
	b := prepared(t, f)
	var kept []any
	for i := range 5 {
		in := topology.NewTuple("src", "default", 1, topology.Fields{"name", "n"}, topology.Values{"x", i})
		r, err := execute(t, b, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.emits {
			if !slices.Equal(e.values, in.Values()) {
				t.Errorf("filter changed values: %v", e.values)
			}
			kept = append(kept, e.values[1])
		}
	}
	if !slices.Equal(kept, []any{0, 2, 4}) {
		t.Errorf("kept %v, want [0 2 4]", kept)
	}
}
