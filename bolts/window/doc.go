// Package window holds windowed aggregation bolts: tumbling and sliding
// windows by time or by count, session windows, in event time or processing
// time, with watermarks, allowed lateness and a stream for late tuples. Each
// window keeps an accumulator per key in keyed state (package state), not the
// tuples, so windows survive failures and restore with checkpoints.
//
// # Using it
//
// A window bolt is configured by a [Config] and made with [New], or with one
// of the ready bolts [Count], [Sum] and [TopN]. Subscribe it with the fields
// grouping on its KeyFields, so that a key's tuples and its keyed state meet
// in one task. Counting clicks per page in one-minute event-time windows,
// accepting tuples up to ten seconds late, then ranking the top ten pages of
// each minute:
//
//	b := topology.NewBuilder("clicks")
//	b.SetSpout("clicks", kafkaspout.New(kcfg), 4).
//		EventTime(topology.EventTime{Field: "ts", OutOfOrderness: 5 * time.Second})
//	b.SetBolt("counts", window.Count(window.Config{
//		KeyFields:       []string{"page"},
//		Assigner:        window.Tumbling(time.Minute),
//		TimeField:       "ts",
//		AllowedLateness: 10 * time.Second,
//		InputFields:     []string{"page", "user", "ts"},
//	}), 8).FieldsFrom("clicks", "page")
//	b.SetBolt("top", window.TopN(10, window.CountField, window.Config{
//		KeyFields:       []string{"page"},
//		AllowedLateness: 10 * time.Second,
//	}), 1).GlobalFrom("counts")
//	b.SetBolt("late", lateSink, 1).Subscribe("counts", window.DefaultLateStream, topology.Shuffle())
//
// The counts bolt emits (page, window_start, window_end, count) on the
// default stream; the top bolt emits (window_start, window_end, rank, page,
// count), ranks 1 to 10. Window bounds are integer milliseconds since the
// Unix epoch.
//
// # Windows
//
// [Tumbling] windows of size d are [k·d, (k+1)·d), aligned to the epoch.
// [Sliding] windows of size d every s overlap: a tuple belongs to d/s of
// them. [Session] windows group the tuples of a key separated by less than
// the gap; when a tuple bridges two sessions, they merge (accumulators with
// [Aggregator.Merge]). [TumblingCount] and [SlidingCount] count tuples per
// key instead of time and fire on the tuple that completes the window.
// [Given] takes the window from the tuple's own fields, for bolts downstream
// of another window bolt.
//
// # Time, watermarks and lateness
//
// In event time (TimeField or TimeExtract) a tuple's time comes from the
// tuple, and the runtime tells the bolt how far input has progressed through
// watermarks (see [topology.WatermarkHandler]): watermark W promises no more
// tuples with a time before W. The runtime computes it as the minimum over
// the task's inputs of (largest time seen − allowed out-of-orderness), and
// forwards it downstream in order with the tuples, like a checkpoint barrier.
// The rules, with L the AllowedLateness:
//
//   - window [start, end) fires when the watermark reaches end (passes
//     end−1), emitting one result per key;
//   - a tuple for a window that already fired but whose end + L is still
//     after the watermark updates the window, and the bolt emits the updated
//     result at once (a re-firing): the last result of a window is the final
//     one;
//   - when the watermark reaches end + L the window is purged; a tuple that
//     finds every window it belongs to purged is late, and goes, with its
//     values unchanged, to the late stream ([Config.LateStream]), declared
//     with [Config.InputFields].
//
// In processing time (ProcessingTime) a tuple's time is the task clock at
// arrival; windows fire when the clock passes their end, checked on every
// tuple and on tick tuples, so give the bolt a tick interval. Nothing is
// ever late in processing time. When every input has ended (the end-of-time
// watermark) all open windows fire, in either time; count windows still
// short of their tuples do not. [TopN] and other [Given] windows fire on
// watermarks, so they need event time upstream.
//
// # Aggregation
//
// An [Aggregator] folds a window's tuples into an accumulator, which the
// bolt keeps per key and window in keyed state (msgpack-encoded): [Aggregate]
// makes an [Aggregation] of it. For the rare result that needs every tuple,
// [ProcessAll] keeps the tuples in keyed state and hands them all to a
// function when the window fires.
//
// # State, timers and failures
//
// Everything a window bolt keeps is in its task's state Backend, so it is
// part of every checkpoint and moves with its key groups when a component is
// rescaled:
//
//   - per key, a map from window to its state (the encoded key values, the
//     accumulator, the tuple count); for session windows also the list of
//     the key's live sessions, so a tuple costs one read rather than a scan;
//     for count windows the key's tuple count; in full-window mode each
//     tuple under (window, sequence number);
//   - per key group, the timers of that group's windows (due at the window's
//     end, then at end + L when it is purged) and the current watermark,
//     stored under a key chosen to hash into that group.
//
// In Prepare a task loads the timers of its key groups into an in-memory
// priority queue; a watermark then pops the due ones, in (time, key, window)
// order, without scanning keys. A task restored after rescaling starts from
// the smallest watermark among its key groups: a tuple the old owner would
// have found late may then count, but none it would have taken is dropped.
//
// The bolt acks each input once it is in state; results are emitted
// unanchored, late tuples anchored to themselves. Under the exactly-once
// guarantee a window's state is exact after any failure: the checkpoint
// restores it together with the spouts' positions. Results emitted after
// the last checkpoint before a failure are emitted again after the restore
// (identical), and results emitted between the failure and the restart may
// lack the tuple that failed, so exactly-once output needs a sink that
// writes on checkpoint completion. Under at-least-once a replayed tuple
// counts again.
//
// The bolt sets the state's current key itself from KeyFields with the
// canonical key encoding the fields grouping hashes
// (internal/keygroup.AppendKey), so it needs nothing from the runtime but the
// Backend (topology.Context.Services implementing state.Provider). A tuple
// whose key belongs to another task (a grouping other than fields on
// KeyFields) fails with an error wrapping state.ErrKeyGroupOutOfRange. A
// bolt without KeyFields keeps its windows under a key of its first key
// group.
//
// # Types of emitted values
//
// Key values and full-window tuples come back from state through msgpack:
// integers as int64 (uint64 above MaxInt64), floats as float64. Window
// bounds are int64. Accumulators must round-trip through msgpack.
//
// # Cost
//
// Measured with BenchmarkWindowCount on a shared, busy 2-core AMD EPYC VM
// over real Pebble (CPU time of the whole process per tuple, so Pebble's
// background work included): about 2.5–4µs for a tumbling count over 100
// keys; 12–21µs when tuples keep opening windows (10,000 keys, a sliding
// window of four panes, sessions that never merge), since every window also
// costs a timer, a firing and a purge. Full-window mode costs a state entry
// per tuple. The timer index holds one entry per live window in memory.
//
// # Metrics
//
// With [Config.Registerer] set, each task counts gale_window_fired_total
// (results emitted per window firing) and gale_window_late_tuples_total,
// labelled topology, component and task.
package window
