package gen

import "errors"

var (
	// ErrInvalidConfig marks a [SentenceConfig] field out of range.
	ErrInvalidConfig = errors.New("gen: invalid config")

	// ErrBadSnapshot marks a checkpoint snapshot the spout cannot restore.
	ErrBadSnapshot = errors.New("gen: bad snapshot")
)
