package gen

import "errors"

// ErrInvalidConfig marks a [SentenceConfig] field out of range.
var ErrInvalidConfig = errors.New("gen: invalid config")
