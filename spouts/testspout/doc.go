// Package testspout holds spouts for tests of topologies and of the runtime.
//
// [FromSlice] emits a fixed list of values and [FromChan] emits what a test
// sends on a channel while the topology runs. Both declare their output
// fields (given with [WithFields], "value" by default), can emit reliably
// with message ids and replay what fails, and report to a [Recorder] that the
// test keeps: the runtime makes spout instances through the factory, so the
// recorder is how a test sees what every task emitted, and which ids were
// acked and failed.
//
//	rec := testspout.NewRecorder()
//	b.SetSpout("in", testspout.FromSlice(values, testspout.Reliable(), testspout.WithRecorder(rec)), 2)
//	... run the topology ...
//	if err := rec.WaitDone(ctx); err != nil { ... }
//
// A Recorder is safe for concurrent use; the spouts themselves follow the
// [topology.Spout] contract and are called from one goroutine per task.
package testspout
