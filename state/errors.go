package state

import "errors"

var (
	// ErrNotFound is returned by Get methods when the current key has no
	// value, and by storage when a file or checkpoint does not exist.
	ErrNotFound = errors.New("state: not found")

	// ErrClosed is returned by every method of a Store or Backend after Close.
	ErrClosed = errors.New("state: closed")

	// ErrFenced is returned by [Store.Checkpoint] when storage already holds
	// a checkpoint written under a higher epoch: a newer owner exists, and
	// this store must not overwrite its state.
	ErrFenced = errors.New("state: fenced by a newer epoch")

	// ErrKeyGroupOutOfRange is returned by [Backend.SetCurrentKey] when the
	// key hashes into a key group the task does not own: the key was routed
	// to the wrong task.
	ErrKeyGroupOutOfRange = errors.New("state: key group out of the task's range")

	// ErrNoCurrentKey is returned by keyed state handles used before a
	// successful [Backend.SetCurrentKey].
	ErrNoCurrentKey = errors.New("state: no current key")

	// ErrScopeInUse is returned by [Store.Task] when an open Backend already
	// owns the task or one of the key groups, and by restore when a scope to
	// restore overlaps an open Backend.
	ErrScopeInUse = errors.New("state: scope in use by an open backend")

	// ErrCheckpointPending is returned by [Backend.Flush] while a checkpoint
	// the Backend flushed for has not been taken yet.
	ErrCheckpointPending = errors.New("state: checkpoint pending")

	// ErrInvalidScope is returned when a [Scope] is malformed.
	ErrInvalidScope = errors.New("state: invalid scope")

	// ErrCheckpointExists is returned by [Store.Checkpoint] when storage
	// already holds a checkpoint with the same or a higher id.
	ErrCheckpointExists = errors.New("state: checkpoint id not above the latest in storage")

	// ErrIncompleteRestore is returned by restore when the checkpoints hold
	// state for a component but not for every key group asked for.
	ErrIncompleteRestore = errors.New("state: checkpoint does not cover the key groups")

	// ErrConflictingSources is returned by restore when two source
	// checkpoints both hold a key group of a component.
	ErrConflictingSources = errors.New("state: source checkpoints overlap")

	// ErrNoState is returned by [BackendOf] when the runtime offers no keyed
	// state to the task.
	ErrNoState = errors.New("state: runtime offers no state backend")

	// ErrCorrupt is returned when a stored key, value, file or manifest
	// cannot be decoded or fails its checksum.
	ErrCorrupt = errors.New("state: corrupt data")
)
