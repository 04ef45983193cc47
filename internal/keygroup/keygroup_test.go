package keygroup

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestRangesPartitionEveryGroupForEveryParallelism(t *testing.T) {
	for _, m := range []int{1, 7, 128, 1000} {
		for p := 1; p <= m && p <= 200; p++ {
			owner := make([]int, m)
			for i := range owner {
				owner[i] = -1
			}
			for i := range p {
				r := RangeOf(i, p, m)
				for g := r.Start; g < r.End; g++ {
					if owner[g] != -1 {
						t.Fatalf("m=%d p=%d: group %d owned by tasks %d and %d", m, p, g, owner[g], i)
					}
					owner[g] = i
				}
			}
			for g, o := range owner {
				if o == -1 {
					t.Fatalf("m=%d p=%d: group %d owned by no task", m, p, g)
				}
				if got := Task(g, p, m); got != o {
					t.Fatalf("m=%d p=%d: Task(%d)=%d but range owner is %d", m, p, g, got, o)
				}
			}
		}
	}
}

func TestEqualValuesOfDifferentIntegerTypesAreOneKey(t *testing.T) {
	want := string(AppendKey(nil, int64(7)))
	for _, v := range []any{7, int8(7), int16(7), int32(7), uint8(7), uint16(7), uint32(7), uint64(7), uint(7)} {
		if got := string(AppendKey(nil, v)); got != want {
			t.Errorf("%T(7) encodes as %q, int64(7) as %q", v, got, want)
		}
	}
	if string(AppendKey(nil, "1")) == string(AppendKey(nil, 1)) {
		t.Error(`"1" and 1 encode the same`)
	}
	ab := AppendKey(AppendKey(nil, "ab"), "c")
	abc := AppendKey(AppendKey(nil, "a"), "bc")
	if string(ab) == string(abc) {
		t.Error(`("ab","c") and ("a","bc") encode the same`)
	}
}

func TestKeyGroupsSpreadKeys(t *testing.T) {
	const m, n = 128, 128000
	counts := make([]int, m)
	for i := range n {
		counts[Of(AppendKey(nil, fmt.Sprintf("key-%d", i)), m)]++
	}
	for g, c := range counts {
		if c < n/m/2 || c > n/m*2 {
			t.Errorf("group %d has %d keys, want about %d", g, c, n/m)
		}
	}
}

// TestTimesKeyByInstant checks that a time keys by its instant alone: the
// sender of a tuple may hold it in any zone and with a monotonic clock
// reading, and the receiver gets it back in UTC without one.
func TestTimesKeyByInstant(t *testing.T) {
	now := time.Now() // has a monotonic reading
	zone := time.FixedZone("UTC+5", 5*3600)
	same := []time.Time{now, now.UTC(), now.In(zone), now.Round(0), time.Unix(0, now.UnixNano())}
	want := AppendKey(nil, now)
	for _, v := range same {
		if got := AppendKey(nil, v); !bytes.Equal(got, want) {
			t.Errorf("%v keys as %x, want %x", v, got, want)
		}
	}
	for _, v := range []time.Time{now.Add(time.Nanosecond), now.Add(-time.Second), {}} {
		if bytes.Equal(AppendKey(nil, v), want) {
			t.Errorf("%v keys like %v", v, now)
		}
	}
}
