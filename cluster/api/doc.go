// Package api is the HTTP submission and operations API of a gale node, and
// its client.
//
// # Endpoints
//
//	POST   /v1/topologies?name=N&workers=W&config=JSON   submit a topology binary (the raw request body)
//	GET    /v1/topologies                     list the submitted topologies
//	GET    /v1/topologies/{name}[?stats=1]    status: assignment, worker processes, figures
//	DELETE /v1/topologies/{name}              kill
//	POST   /v1/topologies/{name}/rebalance?workers=W
//	GET    /v1/members                        cluster membership
//	GET    /v1/workers[?stats=1]              this node's worker processes (with tuple figures)
//	GET    /v1/binaries/{sha256}              a stored binary, for peers
//	GET    /v1/targets                        this node's Prometheus targets (node and workers)
//	GET    /metrics                           Prometheus metrics (no token)
//
// With a checkpoint store (Config.Checkpoints, package cluster/ckptstore),
// under /v1/checkpoints/{topology}/{namespace}/:
//
//	PUT    files/{name...}     store a file (the raw body); answers {"size": N}
//	GET    files/{name...}     a stored file
//	DELETE files/{name...}     delete a file (missing is not an error)
//	GET    files               [{"name": ..., "size": ...}, ...]
//	PUT    manifests/{id}      store the manifest of checkpoint id
//	GET    manifests/{id}      a manifest
//	DELETE manifests/{id}      delete a manifest
//	GET    manifests           the manifest ids, ascending
//
// These accept the cluster token, or the worker token of the topology in the
// path (Config.WorkerToken), which opens that topology's checkpoints only.
//
// Every /v1 request needs `Authorization: Bearer TOKEN` when the server has
// a token; the token is compared in constant time and a missing or wrong one
// gets 401 with a JSON error before anything is read or stored. Errors are
// JSON objects {"error": "..."} with a matching status code.
//
// # Submission
//
// A submission streams the binary into the node's binary store while hashing
// it. If the request carries X-Gale-Sha256, the content must hash to it. If
// the server trusts an ed25519 key, X-Gale-Signature (base64) must hold a
// signature of the raw sha256 by that key: running unauthenticated uploaded
// code is how Storm and Flink clusters have been taken over. The binary must
// then be an executable for this platform and, run with `spec` in a scratch
// directory with a timeout, print a valid topology spec. Only then is it
// stored under its hash and announced to the cluster (cluster.Node's
// PutTopology); nodes that are assigned its workers fetch it from a peer's
// /v1/binaries and verify the hash.
//
// config, when given, is a JSON object of topology.SpecConfig fields
// ({"max_spout_pending": 5000, "message_timeout": "1m"}) that override the
// configuration compiled into the binary; the workers run with the result.
//
// # Status figures
//
// With stats=1, the node that runs a worker scrapes the worker's /metrics
// and sums the runtime's tuple counters per component (emitted, executed,
// acked, failed); rates are the difference from the previous scrape of the
// same process, at least a second earlier (a first request waits a second
// for a second sample). Status asks every node that runs one of the
// topology's workers, concurrently.
//
// The server listens wherever its caller puts it; package cluster/daemon
// defaults to loopback.
package api
