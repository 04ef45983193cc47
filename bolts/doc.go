// Package bolts holds ready-made bolts: the small adapters every topology
// needs ([Split], [Count], [Map], [Filter], [Log]) here, and sinks and
// windowed aggregations in their own files and subpackages.
//
// Every bolt of this file set follows Storm's basic-bolt contract (see
// [topology.BasicBolt]): what it emits is anchored to the input it is
// executing, the input is acked when Execute returns nil, and it is failed
// when Execute returns an error or panics — a typed getter on a missing or
// mistyped field panics with a [*topology.FieldError], which fails the tuple.
//
// Each constructor returns a [topology.BoltFactory] whose instances declare
// their own output fields, so the builder needs no Output call:
//
//	counts := bolts.NewCounts()
//	b := topology.NewBuilder("wordcount")
//	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{Limit: 1000}), 2)
//	b.SetBolt("split", bolts.Split(" "), 4).ShuffleFrom("sentences")
//	b.SetBolt("count", bolts.Count("word", bolts.Into(counts)), 4).FieldsFrom("split", "word")
//
// Functions passed to [Map] and [Filter] are shared by every task of the
// component, so they must be safe to call from several goroutines at once.
//
// The in-memory [Count] keeps nothing across restarts; under at-least-once
// delivery a replayed tuple is counted again. Counts that must survive
// failures exactly once belong in keyed state (package state).
package bolts
