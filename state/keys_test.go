package state

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/gale-stream/gale/internal/keygroup"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    Key
	}{
		{"keyed", Key{Topology: "clicks", Component: "count", Group: 7, Name: "n", Key: []byte("s\x03abc")}},
		{"zero bytes everywhere", Key{Topology: "a\x00b", Component: "\x00", Group: 0, Name: "\x00\x00", Key: []byte{0, 0xFF, 0, 1}, Sub: []byte{0, 1, 2}}},
		{"empty segments", Key{Group: 1}},
		{"map entry", Key{Topology: "t", Component: "c", Group: 65534, Name: "m", Key: []byte("k"), Sub: []byte("\xa3abc")}},
		{"operator", Key{Topology: "t", Component: "spout", Group: OperatorGroup, Task: 3, Name: "offsets"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.k.Append(nil)
			got, err := DecodeKey(enc)
			if err != nil {
				t.Fatalf("DecodeKey(%x): %v", enc, err)
			}
			if got.Topology != tc.k.Topology || got.Component != tc.k.Component || got.Group != tc.k.Group ||
				got.Task != tc.k.Task || got.Name != tc.k.Name || !bytes.Equal(got.Key, tc.k.Key) || !bytes.Equal(got.Sub, tc.k.Sub) {
				t.Fatalf("round trip: got %+v, want %+v", got, tc.k)
			}
		})
	}
}

func TestKeyOrderAndSpans(t *testing.T) {
	// Keys of a component sort by key group, and a group range is exactly
	// the keys inside its span, whatever the segment contents.
	topos := []string{"t", "t\x00", "t\x00x", "ta", ""}
	var keys [][]byte
	var meta []Key
	for _, topo := range topos {
		for _, comp := range []string{"c", "c\x00", "cc"} {
			for g := range 6 {
				for _, name := range []string{"", "a", "a\x00"} {
					k := Key{Topology: topo, Component: comp, Group: g, Name: name, Key: []byte{byte(g), 0}}
					keys = append(keys, k.Append(nil))
					meta = append(meta, k)
				}
			}
			op := Key{Topology: topo, Component: comp, Group: OperatorGroup, Task: 2, Name: "o"}
			keys = append(keys, op.Append(nil))
			meta = append(meta, op)
		}
	}
	r := keygroup.Range{Start: 2, End: 5}
	for _, topo := range topos {
		start, end := groupSpan(topo, "c", r)
		ostart, oend := operatorSpan(topo, "c", 2)
		for i, k := range keys {
			m := meta[i]
			in := bytes.Compare(k, start) >= 0 && bytes.Compare(k, end) < 0
			want := m.Topology == topo && m.Component == "c" && r.Contains(m.Group)
			if in != want {
				t.Errorf("key %+v in span of %q groups %v: %v, want %v", m, topo, r, in, want)
			}
			oin := bytes.Compare(k, ostart) >= 0 && bytes.Compare(k, oend) < 0
			owant := m.Topology == topo && m.Component == "c" && m.Operator() && m.Task == 2
			if oin != owant {
				t.Errorf("key %+v in operator span of %q: %v, want %v", m, topo, oin, owant)
			}
		}
	}
	// Within one component, encoded order follows group order.
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	var last Key
	for i, k := range sorted {
		m, err := DecodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && m.Topology == last.Topology && m.Component == last.Component && m.Group < last.Group {
			t.Fatalf("group order broken: %+v after %+v", m, last)
		}
		last = m
	}
}

func TestDecodeKeyRejectsMalformed(t *testing.T) {
	for _, in := range [][]byte{
		nil,
		{'t'},
		{'t', 0},
		{'t', 0, 7},
		{'t', 0, 1, 'c', 0, 1, 0},
		{'t', 0, 1, 'c', 0, 1, 0xFF, 0xFF, 0, 0},
		append(Key{Group: OperatorGroup, Name: "x"}.Append(nil), 'z'),
	} {
		if _, err := DecodeKey(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeKey(%x) = %v, want ErrCorrupt", in, err)
		}
	}
}

// FuzzDecodeKey checks that decoding never panics and that whatever decodes
// re-encodes to the same bytes. The seed corpus in testdata/fuzz runs in
// ordinary `go test`.
func FuzzDecodeKey(f *testing.F) {
	f.Add(Key{Topology: "clicks", Component: "count", Group: 3, Name: "n", Key: []byte("s\x01a")}.Append(nil))
	f.Add(Key{Topology: "t", Component: "s", Group: OperatorGroup, Task: 1, Name: "offsets"}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodeKey(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if enc := k.Append(nil); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding %+v gives %x, input was %x", k, enc, b)
		}
	})
}
