package assign

import "errors"

var (
	// ErrInvalidInput marks an [Input] that cannot be assigned: an empty or
	// duplicate name, a negative slot count, a topology with no workers, or a
	// component whose parallelism is below 1 or above the topology's maximum
	// parallelism. The wrapping error names the node, topology or component.
	ErrInvalidInput = errors.New("assign: invalid input")

	// ErrNoCapacity means there are workers to place but no node has a slot.
	ErrNoCapacity = errors.New("assign: no node has worker slots")
)
