package cluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func sampleMeta() NodeMeta {
	return NodeMeta{
		ID: "node-1", APIAddr: "10.0.0.1:8080", DataAddr: "10.0.0.1:9090",
		Slots: 4, Version: "v0.1.0", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	}
}

func TestNodeMetaRoundTrip(t *testing.T) {
	for _, m := range []NodeMeta{sampleMeta(), {ID: "x", StartedAt: time.Unix(0, 0).UTC()}} {
		b, err := EncodeNodeMeta(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeNodeMeta(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func TestNodeMetaErrors(t *testing.T) {
	big := sampleMeta()
	big.Version = strings.Repeat("v", MetaMaxSize)
	for _, tc := range []struct {
		name string
		m    NodeMeta
	}{
		{"empty id", NodeMeta{Slots: 1}},
		{"negative slots", NodeMeta{ID: "a", Slots: -1}},
		{"too large", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := EncodeNodeMeta(tc.m); !errors.Is(err, ErrBadMeta) {
				t.Fatalf("EncodeNodeMeta = %v, want ErrBadMeta", err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"garbage", []byte{0xc1, 0x00}},
		{"not a map", []byte{0x01}},
		{"too long", make([]byte, MetaMaxSize+1)},
		{"truncated", mustEncodeMeta(t, sampleMeta())[:10]},
		{"no id", mustMarshal(t, map[string]any{"s": 3})},
		{"wrong type", mustMarshal(t, map[string]any{"i": 3})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeNodeMeta(tc.b); !errors.Is(err, ErrBadMeta) {
				t.Fatalf("DecodeNodeMeta = %v, want ErrBadMeta", err)
			}
		})
	}
}

func TestNodeMetaSkipsUnknownFields(t *testing.T) {
	// A newer node may publish more fields; older nodes must still read it.
	b := mustMarshal(t, map[string]any{"i": "n", "s": 2, "t": int64(5), "future": []int{1, 2}})
	m, err := DecodeNodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "n" || m.Slots != 2 || m.StartedAt.UnixNano() != 5 {
		t.Fatalf("decoded %+v", m)
	}
}

func mustEncodeMeta(t testing.TB, m NodeMeta) []byte {
	t.Helper()
	b, err := EncodeNodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeNodeMeta checks that decoding never panics, that what decodes
// is valid, and that it encodes and decodes back to itself. The seed corpus
// is in testdata/fuzz/FuzzDecodeNodeMeta and runs with the ordinary tests.
func FuzzDecodeNodeMeta(f *testing.F) {
	f.Add(mustEncodeMeta(f, sampleMeta()))
	f.Add(mustEncodeMeta(f, NodeMeta{ID: "x"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeNodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrBadMeta) {
				t.Fatalf("error %v does not wrap ErrBadMeta", err)
			}
			return
		}
		if m.ID == "" || m.Slots < 0 {
			t.Fatalf("decoded invalid metadata %+v", m)
		}
		enc, err := EncodeNodeMeta(m)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", m, err)
		}
		again, err := DecodeNodeMeta(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip: %+v became %+v", m, again)
		}
	})
}
