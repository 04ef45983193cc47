package kafkaspout

import (
	"fmt"
	"testing"
)

func tps(spec map[string]int32) []topicPartition {
	var out []topicPartition
	for t, n := range spec {
		for p := range n {
			out = append(out, topicPartition{t, p})
		}
	}
	return out
}

func TestAssign(t *testing.T) {
	tests := []struct {
		topics      map[string]int32
		parallelism int
	}{
		{map[string]int32{"a": 4}, 1},
		{map[string]int32{"a": 4}, 2},
		{map[string]int32{"a": 4}, 3},
		{map[string]int32{"a": 3, "b": 5}, 4},
		{map[string]int32{"a": 2}, 5}, // more tasks than partitions
		{map[string]int32{"a": 64, "b": 7, "c": 1}, 6},
	}
	for _, tt := range tests {
		all := tps(tt.topics)
		t.Run(fmt.Sprintf("%v/p=%d", tt.topics, tt.parallelism), func(t *testing.T) {
			owner := map[topicPartition]int{}
			minN, maxN := len(all), 0
			for i := range tt.parallelism {
				got := assign(all, i, tt.parallelism)
				// Deterministic regardless of input order.
				rev := append([]topicPartition(nil), all...)
				for l, r := 0, len(rev)-1; l < r; l, r = l+1, r-1 {
					rev[l], rev[r] = rev[r], rev[l]
				}
				if again := assign(rev, i, tt.parallelism); fmt.Sprint(again) != fmt.Sprint(got) {
					t.Fatalf("task %d: %v from one order, %v from another", i, got, again)
				}
				for _, tp := range got {
					if o, dup := owner[tp]; dup {
						t.Fatalf("%s owned by tasks %d and %d", tp, o, i)
					}
					owner[tp] = i
				}
				minN, maxN = min(minN, len(got)), max(maxN, len(got))
			}
			if len(owner) != len(all) {
				t.Fatalf("%d of %d partitions owned", len(owner), len(all))
			}
			if maxN-minN > 1 {
				t.Fatalf("uneven spread: %d to %d partitions per task", minN, maxN)
			}
		})
	}
	if got := assign(tps(map[string]int32{"a": 2}), 2, 2); got != nil {
		t.Fatalf("index out of range: %v", got)
	}
}
