package kafkaspout

import (
	"cmp"
	"fmt"
	"slices"
)

// topicPartition names one partition.
type topicPartition struct {
	Topic     string
	Partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

func compareTP(a, b topicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// assign returns the partitions task index of parallelism owns: all
// partitions sorted by (topic, partition), and the i-th of them to task
// i mod parallelism. Every task computes the same answer from the same
// metadata, so each partition has exactly one owner, the counts differ by at
// most one, and the mapping follows parallelism and partition-count changes
// without any coordination (unlike a consumer-group rebalance, which would
// move partitions on its own schedule). The result is sorted.
func assign(all []topicPartition, index, parallelism int) []topicPartition {
	if parallelism < 1 || index < 0 || index >= parallelism {
		return nil
	}
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, compareTP)
	sorted = slices.Compact(sorted)
	var out []topicPartition
	for i := index; i < len(sorted); i += parallelism {
		out = append(out, sorted[i])
	}
	return out
}
