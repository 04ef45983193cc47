package cluster

import "errors"

var (
	// ErrClosed is returned by the methods of a [Node] after [Node.Shutdown].
	ErrClosed = errors.New("cluster: node closed")

	// ErrInvalidConfig marks a [Config] that [Config.Validate] rejects; the
	// joined error lists every problem.
	ErrInvalidConfig = errors.New("cluster: invalid config")

	// ErrJoin means none of the seeds could be joined. A wrong or missing
	// gossip key and a different cluster label look like this too, because
	// the seeds drop what they cannot authenticate.
	ErrJoin = errors.New("cluster: join failed")

	// ErrBadMeta marks node metadata that does not decode or is inconsistent.
	ErrBadMeta = errors.New("cluster: bad node metadata")

	// ErrBadMessage marks a gossip message that does not decode.
	ErrBadMessage = errors.New("cluster: bad gossip message")

	// ErrStaleEpoch is returned by [CheckEpoch] when a worker or a state write
	// carries an assignment epoch older than the newest one known: the work
	// was reassigned, and the stale writer must stop.
	ErrStaleEpoch = errors.New("cluster: stale assignment epoch")

	// ErrInvalidTopology marks a [TopologyInfo] that cannot be placed.
	ErrInvalidTopology = errors.New("cluster: invalid topology")

	// ErrUnknownTopology is returned when a named topology is not submitted.
	ErrUnknownTopology = errors.New("cluster: unknown topology")
)
