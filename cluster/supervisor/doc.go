// Package supervisor runs the worker processes of one gale node.
//
// A [Supervisor] is told, with [Supervisor.Apply], the complete set of
// workers this node should run: for each, the topology binary and its
// [Assignment]. It starts one process per worker (`BINARY worker
// --assignment FILE`, with the assignment also in GALE_WORKER_ASSIGNMENT),
// writes the process's stdout and stderr to a log file per worker, restarts a
// process that exits with an exponential backoff (from [Config.BackoffMin] to
// [Config.BackoffMax], reset after a process has run for [Config.StableAfter]),
// and stops processes that are no longer wanted, or whose assignment changed,
// with SIGTERM and, after [Config.Grace], SIGKILL.
//
// # Assignment handoff
//
// The worker reads its [Assignment] from a JSON file: the topology, its
// index among the topology's workers, the epoch (fencing token) it runs
// under, its tasks and key groups, its state directory, and its peers (the
// other workers and the data addresses of their nodes), through which the
// workers of one topology find each other and exchange tuples over TCP.
//
// # Concurrency
//
// Every worker has one goroutine that owns its process: it starts, waits,
// backs off and stops. Apply and Status may be called from any goroutine.
// [Supervisor.Shutdown] stops every worker and waits for their goroutines.
//
// # Metrics
//
// gale_cluster_worker_restarts_total{topology} and
// gale_cluster_workers_running{topology} are registered with
// [Config.Registerer].
package supervisor
