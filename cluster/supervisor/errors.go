package supervisor

import "errors"

var (
	// ErrClosed is returned by [Supervisor.Apply] after [Supervisor.Shutdown].
	ErrClosed = errors.New("supervisor: closed")

	// ErrBadAssignment marks an assignment file that does not decode or is
	// incomplete.
	ErrBadAssignment = errors.New("supervisor: bad assignment")
)
