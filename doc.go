// Package gale is the entry point of a topology program: its main hands the
// topology to [Main], and the same binary then runs locally, prints its
// spec, submits itself to a cluster, or runs as a cluster worker, depending
// on its arguments, as Storm's StormSubmitter does from main.
//
//	func main() {
//		b := topology.NewBuilder("wordcount")
//		b.SetSpout("sentences", gen.Sentences(cfg), 1)
//		...
//		gale.Main(b)
//	}
//
// # Commands
//
//	prog [run] [--state-dir DIR] [--metrics-addr ADDR]   run in this process until SIGINT/SIGTERM
//	prog spec                                            print the topology spec as JSON
//	prog submit --node URL [--token T] [--name N] [--workers W] [--sign-key FILE]
//	prog worker --assignment FILE                        run as a cluster worker (started by a node)
//
// submit uploads the program's own executable (os.Executable) to a node's
// API (package cluster/api); the node checks it, runs `spec`, stores it and
// announces it. Flags of submit have environment equivalents: GALE_NODE,
// GALE_TOKEN, GALE_SIGN_KEY. A node's supervisor starts `worker` with the
// path of its assignment (see package cluster/supervisor), also given in
// GALE_WORKER_ASSIGNMENT.
//
// # Workers
//
// A worker runs the topology with runtime.Run, with its state directory,
// checkpoints under it, and the assignment's epoch as fencing token, and
// serves Prometheus metrics on the assignment's metrics address (writing
// the address it bound to StateDir/metrics.addr). A topology placed in
// several workers runs each worker's tasks in its process, linked to the
// other workers over TCP (runtime.WorkerPlan, built by [WorkerPlan] from the
// assignment's peers).
package gale
