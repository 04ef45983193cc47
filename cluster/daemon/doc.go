// Package daemon is one gale node process: it wires a cluster.Node
// (membership, coordinator, gossiped assignments), the HTTP API (package
// cluster/api), the binary store (cluster/binstore) and the worker
// supervisor (cluster/supervisor) together.
//
// # What a node does
//
// [Start] binds the API listener (loopback by default), starts the cluster
// node with the API's address in its metadata, joining the seeds with
// retries, and starts a reconcile goroutine. Whenever the assignment or the
// topology set changes (and every few seconds, to retry a failed fetch),
// the reconcile goroutine lists the workers the newest assignment places on
// this node, makes sure each topology's binary is in the local store
// (fetching it from the alive peers' APIs and verifying its sha256), and
// hands the supervisor the complete list of workers with their
// assignments: the supervisor starts new workers, stops removed ones and
// restarts moved or rescaled ones. It then fetches the binaries of every
// other submitted topology too, so each node holds a copy and a topology
// outlives the node it was submitted to (a node that dies within a second
// or two of accepting a submission, before any peer copied the binary,
// still takes the binary with it).
//
// # Workers across nodes
//
// A topology with several workers runs each in its own process, linked to
// the others over TCP (runtime.WorkerPlan). Each node publishes a data
// address, the first of a range of ports ([Config.DataAddr]); the k-th
// worker on a node, ordered by fencing token, topology and index, listens
// on port+k, the way Storm's supervisors hand out slot ports. Every node
// derives the same addresses from the same assignment, so a worker's
// assignment file names all its peers before any of them starts. The
// workers of one topology authenticate each other with a token derived
// from the cluster's API token.
//
// # Checkpoints
//
// The node stores its workers' checkpoints and replicates them to
// [Config.CheckpointReplicas] other nodes (package cluster/ckptstore),
// through endpoints of its API under /v1/checkpoints/. Every worker gets
// the environment variable GALE_NODE_API (ckptstore.EnvNodeAPI), the
// node's API on loopback, and authenticates there with its assignment's
// token; the package gale's worker mode builds its runtime's checkpoint
// space from them. After a node dies, the workers that move elsewhere read
// their namespaces through their new node, which fetches what it lacks
// from the survivors.
//
// # Metrics
//
// The node serves Prometheus on [Config.MetricsAddr]: /metrics (cluster,
// supervisor and Go figures) and /prometheus/sd, an http_sd document that
// lists every node's and every worker's metrics address in the cluster
// (gathered from the peers' /v1/targets), so one scrape config finds
// everything (see deploy/prometheus/prometheus.yml).
//
// # Security
//
// The API runs uploaded code (`spec`, then the workers), so Start refuses
// an API address beyond loopback without a token; [Config.TrustedKey]
// further limits it to binaries signed by a known key.
//
// # Files
//
// Under [Config.DataDir]: binaries/ (the store, by sha256),
// checkpoints/TOPOLOGY/NAMESPACE/ (this node's copies of checkpoints),
// binaries.scratch/ (where uploads run `spec`), workers/TOPOLOGY/INDEX/
// (assignment.json, worker.log, state/), and node.json, which says where
// the node listens once it is up.
//
// # Shutdown
//
// [Daemon.Shutdown] stops the reconcile goroutine, the API, every worker
// (SIGTERM, then SIGKILL after the grace period), then leaves the cluster
// and shuts gossip down.
package daemon
