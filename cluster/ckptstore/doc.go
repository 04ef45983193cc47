// Package ckptstore is the cluster's replicated checkpoint storage: a
// worker's checkpoints outlive its node because every file and manifest
// written through a node is copied to other nodes before the write
// returns.
//
// # Pieces
//
// A worker talks only to its own node, over the node's HTTP API on
// loopback: [NewSpace] returns a state.CheckpointSpace whose namespaces
// ("worker-0", "worker-1", ..., "commits") are [Storage] values speaking
// the endpoints below. The node serves them with a [Server], mounted by
// package cluster/api under /v1/checkpoints/ behind its bearer-token check.
// The daemon (package cluster/daemon) tells its workers where the API is
// through the environment variable [EnvNodeAPI]; a worker authenticates
// with the token of its assignment (supervisor.Assignment.Token), which
// opens its own topology's checkpoints and nothing else.
//
// # Endpoints
//
// Under /v1/checkpoints/{topology}/{namespace}/:
//
//	PUT    files/{name...}     store a file (the raw body); answers {"size": N}
//	GET    files/{name...}     a stored file, with its Content-Length
//	DELETE files/{name...}     delete a file (missing is not an error)
//	GET    files               [{"name": ..., "size": ...}, ...]
//	PUT    manifests/{id}      store the manifest of checkpoint id
//	GET    manifests/{id}      a manifest
//	DELETE manifests/{id}      delete a manifest
//	GET    manifests           the manifest ids, ascending
//
// Names follow state.DirStorage's rules (slash-separated elements of
// letters, digits, '.', '_' and '-'; no "." or ".."); the node refuses
// anything else with 400, and stores through state.DirSpace, which checks
// again. Files are at most [Config.MaxFileSize] (1 GiB by default) and
// manifests [MaxManifestSize]; larger bodies get 413 and leave nothing. A
// missing object is 404, which the client wraps as state.ErrNotFound. With
// ?replica=1 (nodes only: the cluster token is required) a request works on
// the node's local copy alone: that is how nodes replicate to each other.
//
// # Replication
//
// A node keeps its copies in Config.Dir/TOPOLOGY/NAMESPACE (a
// state.DirStorage). A write from a worker is stored locally, then copied
// to min(R, alive peers) other nodes, R being [Config.Replicas] (2 by
// default). The replicas of a namespace are chosen by rendezvous hashing
// of (topology, namespace, node id) over the alive peers, so the same
// nodes keep receiving a namespace's files while membership holds still.
// As in HDFS's write pipeline and Flink's durable checkpoint storage, the
// write succeeds only when every one of those replicas acknowledged it; a
// replica that fails is replaced by the next node in rendezvous order, and
// when no node is left the write fails with 503 ([ErrUnavailable]) and is
// deleted wherever it was written. Files go before their manifest (the
// state.Store writes the manifest last), and before acknowledging a
// manifest each replica is given every file the manifest references that
// it lacks: after a node loss, the new replica of a namespace receives the
// older files an incremental checkpoint still uses, so the checkpoint is
// back at R+1 copies.
//
// Deletes are applied locally and sent to every alive peer (copies may be
// anywhere the namespace was read or replicated before membership
// changed); a peer that misses one keeps a stale copy, and since listings
// are unions, the Store's retention sees and deletes it again.
//
// # Reads after a failure
//
// A read looks at the local copy first. A file or manifest the node lacks
// (the worker moved here from a dead node) is fetched from the peers,
// the namespace's rendezvous replicas first, then everyone, checked
// against its announced length, kept locally, and served. It is
// state.ErrNotFound only when every alive peer answered that it has none;
// when some peer did not answer, the read fails with [ErrUnavailable]
// rather than claim the object is gone. Listings (ListFiles,
// ListManifests) are the union of the local copy and every alive peer's,
// and fail if an alive peer does not answer: what it alone holds could be
// the newest checkpoint, and restoring an older one would break
// exactly-once. Between a node's crash and its declaration as dead by
// gossip, listings and writes that need it therefore fail; the runtime
// retries them.
//
// # Consistency
//
// Within a namespace, a worker sees its own writes and every complete
// checkpoint written through any node: a manifest's write returns only
// once R+1 nodes hold it and its files, and listings ask every alive node.
// With R replicas, a namespace survives the loss of any R nodes between
// two checkpoints. Writes from two nodes to one namespace are not
// coordinated: the Store's fencing by epoch keeps a stale worker from
// overwriting a newer one's checkpoints.
//
// # Submissions
//
// Each submission of a topology gets a random incarnation
// (cluster.TopologyInfo.Incarnation), and its workers' namespaces are
// INCARNATION.NAME ([Space.WithIncarnation]). A topology submitted again
// under a killed one's name therefore starts without that one's state, as
// a new Flink job does, while rebalances keep the incarnation and restore.
// [Server.Prune], which the daemon runs as it reconciles, deletes a node's
// copies of the namespaces of other incarnations than a topology's live
// one, and all of a killed topology's, once nothing has written to them for
// [Config.PruneAfter] (a namespace of a submission the node has not heard
// of yet is being written, and stays).
package ckptstore
