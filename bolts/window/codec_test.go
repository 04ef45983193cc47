package window

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzWindowStateDecode(f *testing.F) {
	for _, st := range []winState{
		{},
		{Key: []byte{0x91, 0xa1, 'a'}, Acc: []byte{7}, N: 3},
		{Key: bytes.Repeat([]byte{1}, 300), N: -5},
	} {
		enc := st.encode(nil)
		f.Add(enc)
		for i := range enc {
			f.Add(enc[:i]) // split at every point
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeWinState(b)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		if re := st.encode(nil); !bytes.Equal(re, b) {
			// the encoding is canonical except for non-minimal varints
			st2, err := decodeWinState(re)
			if err != nil || !bytes.Equal(st2.Key, st.Key) || !bytes.Equal(st2.Acc, st.Acc) || st2.N != st.N {
				t.Fatalf("round trip of %x: %+v, then %x: %+v, %v", b, st, re, st2, err)
			}
		}
	})
}

func FuzzWindowKeysDecode(f *testing.F) {
	f.Add(winKeyOf(Window{-5, 10}))
	f.Add(timerKeyOf(timerID{Key: "k", Start: -1, End: 1}))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if w, err := parseWinKey(s); err == nil && winKeyOf(w) != s {
			t.Fatalf("window key %x round trips to %x", s, winKeyOf(w))
		}
		if id, err := parseTimerKey(s); err == nil && timerKeyOf(id) != s {
			t.Fatalf("timer key %x round trips to %x", s, timerKeyOf(id))
		}
	})
}
