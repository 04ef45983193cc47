package window

import "errors"

var (
	// ErrInvalidConfig is wrapped by [Config.Validate] for every problem it
	// finds in a Config.
	ErrInvalidConfig = errors.New("window: invalid config")

	// ErrNoTime is reported (through Emitter.ReportError, naming the
	// component and task) for a tuple of an event-time window bolt whose
	// event time cannot be read. The tuple is acked and counted in no window.
	ErrNoTime = errors.New("window: tuple has no event time")

	// ErrNoKey is reported for a tuple that lacks one of the key fields; the
	// tuple is failed.
	ErrNoKey = errors.New("window: tuple lacks a key field")

	// ErrState wraps failures of keyed state (reads, writes, decoding).
	ErrState = errors.New("window: state")
)
