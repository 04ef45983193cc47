package window

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The bolt's state entries are encoded by hand rather than by msgpack
// reflection, which dominated the per-tuple cost: map keys are fixed-width
// big-endian strings, window state a few length-prefixed fields.

// errCorrupt is wrapped by decoders of malformed state.
var errCorrupt = errors.New("corrupt window state")

// winKeyOf encodes window w as a map key.
func winKeyOf(w Window) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(w.Start))
	binary.BigEndian.PutUint64(b[8:], uint64(w.End))
	return string(b[:])
}

func parseWinKey(s string) (Window, error) {
	if len(s) != 16 {
		return Window{}, fmt.Errorf("%w: window key of %d bytes", errCorrupt, len(s))
	}
	return Window{int64(binary.BigEndian.Uint64([]byte(s[:8]))), int64(binary.BigEndian.Uint64([]byte(s[8:])))}, nil
}

// tupKeyOf encodes the key of tuple seq of window w (full-window mode).
func tupKeyOf(w Window, seq int64) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(w.Start))
	binary.BigEndian.PutUint64(b[8:16], uint64(w.End))
	binary.BigEndian.PutUint64(b[16:], uint64(seq))
	return string(b[:])
}

// timerKeyOf encodes a timer id as a map key: the window, then the record
// key.
func timerKeyOf(id timerID) string {
	return winKeyOf(Window{id.Start, id.End}) + id.Key
}

func parseTimerKey(s string) (timerID, error) {
	if len(s) < 16 {
		return timerID{}, fmt.Errorf("%w: timer key of %d bytes", errCorrupt, len(s))
	}
	w, _ := parseWinKey(s[:16])
	return timerID{Key: s[16:], Start: w.Start, End: w.End}, nil
}

// winState is what the bolt keeps per key and window.
type winState struct {
	// Key is the msgpack encoding of the key fields' values, for the result.
	Key []byte
	// Acc is the aggregation's encoded accumulator (nil in full-window mode).
	Acc []byte
	// N is the number of tuples added; in full-window mode the next
	// tuple's sequence number.
	N int64
}

// encode appends st to dst: uvarint len(Key), Key, uvarint len(Acc), Acc,
// varint N.
func (st *winState) encode(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(st.Key)))
	dst = append(dst, st.Key...)
	dst = binary.AppendUvarint(dst, uint64(len(st.Acc)))
	dst = append(dst, st.Acc...)
	return binary.AppendVarint(dst, st.N)
}

// decodeWinState decodes what encode made. The result aliases b. It never
// panics; malformed input returns an error wrapping errCorrupt.
func decodeWinState(b []byte) (winState, error) {
	var st winState
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		if n == 0 {
			f = nil
		}
		return f, true
	}
	var ok bool
	if st.Key, ok = field(); !ok {
		return winState{}, fmt.Errorf("%w: window state key", errCorrupt)
	}
	if st.Acc, ok = field(); !ok {
		return winState{}, fmt.Errorf("%w: window state accumulator", errCorrupt)
	}
	n, k := binary.Varint(b)
	if k <= 0 || k != len(b) {
		return winState{}, fmt.Errorf("%w: window state count", errCorrupt)
	}
	st.N = n
	return st, nil
}
