package kafkaspout

import (
	"errors"
	"maps"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	offs := map[topicPartition]int64{{"a", 0}: 5, {"a", 1}: 0, {"b", 3}: 1 << 40}
	b, err := encodeSnapshot("g", offs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, offs) {
		t.Fatalf("decoded %v, want %v", got, offs)
	}
	for _, bad := range [][]byte{nil, {0xc1}, []byte("garbage"), b[:len(b)/2]} {
		if _, err := decodeSnapshot(bad); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("decode %x: err %v, want ErrSnapshot", bad, err)
		}
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	b, _ := encodeSnapshot("g", map[topicPartition]int64{{"a", 0}: 5, {"b", 2}: 9})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		offs, err := decodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error not marked ErrSnapshot: %v", err)
			}
			return
		}
		again, err := encodeSnapshot("g", offs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeSnapshot(again)
		if err != nil || !maps.Equal(back, offs) {
			t.Fatalf("re-encoded snapshot decodes to %v, %v; want %v", back, err, offs)
		}
	})
}
