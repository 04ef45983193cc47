// Package topology is gale's public API for describing a stream-processing
// job: a directed acyclic graph of spouts (sources) and bolts (processing
// steps), joined by stream groupings, in Apache Storm's programming model.
// The package only describes; package runtime runs what it describes, in
// this process or, through package cluster, over several nodes. It starts no
// goroutine and does no I/O.
//
// # Building a topology
//
// A [Builder] records components and their connections; [Builder.Build]
// checks everything at once and returns an immutable [Topology]:
//
//	b := topology.NewBuilder("wordcount")
//	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce})
//	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{Seed: 1}), 2)
//	b.SetBolt("split", bolts.Split(" "), 4).ShuffleFrom("sentences")
//	b.SetBolt("count", bolts.Count("word"), 4).FieldsFrom("split", "word")
//	topo, err := b.Build()
//
// Every component has a name, unique in the topology, and a parallelism: the
// number of tasks that run it. The runtime creates one instance per task by
// calling the component's factory ([SpoutFactory] or [BoltFactory]); instances
// are not shared between tasks, so a spout or bolt needs no locks for its own
// fields. Build also calls each factory once, on an instance made only to
// read its declarations (see below), so a factory should be cheap and free of
// side effects: open connections in [Spout.Open] or [Bolt.Prepare], not in
// the factory.
//
// # Streams and fields
//
// A component emits on output streams, each with a fixed list of field names
// ([Fields]). Every component may use the [DefaultStream]; others are named.
// A component declares its streams either on the builder
// ([SpoutDeclarer.Output], [BoltDeclarer.OutputStream], ...) or, when it
// knows them itself, by implementing [OutputDeclarer]; both kinds of
// declaration are combined. Tuples carry values in field order; bolts read
// them by name or index with the typed getters of [Tuple], which accept any
// Go integer type for Int64 because a value that crossed a process boundary
// comes back in the smallest msgpack type that holds it.
//
// Names beginning with "__" belong to the runtime ([SystemComponent],
// [TickStream]); a bolt asking for a tick interval ([BoltDeclarer.Tick])
// receives tick tuples, recognised by [IsTick].
//
// # Groupings
//
// A bolt subscribes to (component, stream) pairs, each with a [Grouping] that
// decides which of the bolt's tasks receive each tuple:
//
//   - shuffle ([Shuffle]): spread evenly at random;
//   - fields ([ByFields]): equal values of the grouping fields go to the same
//     task. Keys hash into Config.MaxParallelism key groups, and each task
//     owns a range of them (package internal/keygroup), exactly as keyed state
//     does, so a key's tuples and its state meet in one task, also after a
//     rescale;
//   - all ([All]): every task gets every tuple;
//   - global ([Global]): the task with the lowest id gets every tuple;
//   - direct ([Direct]): the emitter picks the task with EmitDirect; only on
//     streams declared direct, and a direct stream takes no other grouping;
//   - local-or-shuffle ([LocalOrShuffle]): shuffle among the tasks in the
//     emitting worker process when there are any;
//   - partial-key ([PartialKey]): each key goes to the less loaded of two
//     candidate tasks, which balances skewed keys;
//   - custom ([Custom]): a user function picks the tasks.
//
// # Validation
//
// Build reports every problem it finds, not only the first, as one
// [*ValidationError] whose [Problem]s each name the component and, where it
// applies, the stream, and wrap one of the sentinel errors of errors.go:
// a cycle ([ErrCycle], naming the components on it in order), an unknown
// source, stream or grouping field, a duplicate or reserved or empty name,
// a parallelism below 1, a direct grouping on a plain stream or the reverse,
// a fields grouping without fields, a nil factory, no spouts, a topology name
// unfit for URLs and file names ([ErrInvalidName]), and an invalid
// [Config] (including a parallelism above Config.MaxParallelism, which would
// leave tasks without key groups). Test for a kind with errors.Is:
//
//	if errors.Is(err, topology.ErrCycle) { ... }
//
// # Task ids
//
// Build gives each task a [TaskID]: the tasks of each component get
// consecutive ids, components taken in name order, starting at 1. The ids
// depend only on names and parallelisms, so every process that builds the
// same topology agrees on them without talking. [Topology.Components] lists
// the components in topological order (spouts first, every bolt after its
// sources), which is the order to start them in.
//
// # Delivery guarantees
//
// [Config.Guarantee] chooses, per topology:
//
//   - [AtMostOnce]: no tracking; a lost tuple stays lost.
//   - [AtLeastOnce] (the default): Storm's acking. A spout emits with a
//     message id; bolts anchor what they emit to their inputs and ack or fail
//     every input; the spout's Ack is called when the whole tuple tree was
//     acked, and Fail when any part failed or Config.MessageTimeout passed.
//     The spout decides whether to emit again, so a tuple may be processed
//     more than once. Config.MaxSpoutPending bounds the trees in flight per
//     spout task.
//   - [ExactlyOnce]: checkpoint barriers in the manner of Flink. Keyed state
//     (package state) reflects every input exactly once across failures,
//     provided the spouts can rewind (as the Kafka spout does).
//
// # Contracts
//
// The interfaces state who calls each method and when; in short:
//
//   - every method of a spout or bolt instance is called from its task's
//     goroutine, never concurrently;
//   - [Spout.Next] must not block: it emits what is ready and returns;
//   - a [Bolt] acks or fails every input exactly once, now or later, on its
//     task's goroutine; a [BasicBolt] (wrapped with [Basic]) is acked when
//     Execute returns nil and failed when it returns an error or panics, and
//     everything it emits is anchored to its input;
//   - a bolt may keep an input [Tuple] until it acks or fails it, but must
//     not modify its values; after that (and once Execute returned) the
//     runtime may reuse the Tuple for another input, and byte slices among
//     its values may be reused, so copy what you keep longer (the Values
//     slice itself is not reused);
//   - emitted [Values] belong to the runtime: do not reuse the slice; a
//     [BasicBolt] emitting one string can use [StringEmitter], which spares
//     boxing the string and allocating the Values;
//   - a [CustomGrouping] and the functions given to adapters such as
//     [BoltFunc.Factory] are shared by all tasks and must be safe for
//     concurrent use.
//
// # Specs
//
// [Topology.Spec] describes a built topology without its code: names,
// configuration, parallelism, task ids, streams and subscriptions. It encodes
// to JSON (readable, with durations such as "30s") and to msgpack
// ([EncodeSpec], [DecodeSpec]). A topology binary prints its spec so that the
// cluster learns what it is about to run; the cluster checks it with
// [Spec.Validate] and rejects a submission whose spec is inconsistent.
package topology
