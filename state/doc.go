// Package state is gale's keyed state: one Pebble database per worker
// process, a [Backend] per task with typed state handles bound to the
// current record key, and incremental checkpoints copied to storage that
// survives the node.
//
// # Pieces
//
//   - [Store] ([Open]) is the worker's Pebble database, shared by all its
//     tasks. It takes checkpoints ([Store.Checkpoint]) and restores them
//     ([Store.Restore], [Store.RestoreFrom]).
//   - [Backend] ([Store.Task]) is one task's view: a [Scope] (topology,
//     component, task index, range of key groups), the current key, and a
//     write-back cache. It belongs to the task's goroutine.
//   - Handles read and write the current key's state: [Value], [Map],
//     [List], [Counter]; [OperatorValue] is per-task state that needs no key
//     (a spout's offsets).
//   - [CheckpointStorage] keeps checkpoints off the node; [DirStorage] is a
//     directory. [Manifest] describes one complete checkpoint.
//
// # Using state in a bolt
//
// The runtime offers a Backend through topology.Context.Services; a bolt
// gets it with [BackendOf] in Prepare and creates its handles there:
//
//	func (c *counter) Prepare(ctx context.Context, tc *topology.Context) error {
//		b, err := state.BackendOf(tc)
//		if err != nil {
//			return err
//		}
//		c.n = state.NewCounter(b, "count")
//		return nil
//	}
//
//	func (c *counter) Execute(ctx context.Context, t topology.Tuple, out topology.Emitter) error {
//		n, err := c.n.Add(1) // the count of t's key
//		...
//	}
//
// Before Execute, the runtime binds the Backend to the key of a tuple that
// arrived over a fields grouping ([Backend.SetCurrentKey] with the grouping
// fields encoded by [AppendRecordKey], the bytes the grouping hashed), so a
// key's tuples and its state always meet in the task owning its key group.
// A bolt may bind another key itself, as long as it belongs to the task; a
// key outside the task's range fails with [ErrKeyGroupOutOfRange].
//
// # Key layout
//
// Every Pebble key is topology/component/keygroup/name/key[/mapkey] with
// escaped, order-preserving string segments and a big-endian uint16 key
// group (see keys.go). The keys of a range of key groups of one component are
// therefore one contiguous span, which restore deletes and copies as a
// whole. Operator state sits under the reserved group 0xFFFF and the task
// index, after all key groups.
//
// # Write-back cache and checkpoints (the runtime's contract)
//
// Handles write to the Backend's cache; Pebble sees the writes when the
// Backend flushes. For checkpoint n the runtime:
//
//  1. in each task, when the task has aligned barrier n: calls
//     [Backend.FlushForCheckpoint](ctx, n), then forwards the barrier and
//     goes on processing. Later writes stay in the task's cache (even past
//     its bound) until step 2 has taken the local snapshot; if the task
//     reaches barrier n+1 before that, FlushForCheckpoint waits for it.
//     [Backend.Flush] refuses (ErrCheckpointPending) in that window;
//  2. once every local task has done step 1: calls [Store.Checkpoint](ctx,
//     n, storage) from a goroutine of its own. Its local phase (memtable
//     flush and a hard-linked Pebble checkpoint, milliseconds) releases the
//     tasks; its upload phase copies the new files and then writes the
//     manifest. When it returns without error, checkpoint n of this worker
//     is durable. If the runtime abandons n before step 2, it calls
//     [Store.ReleaseCheckpoint](n).
//
// When the coordinator has heard from every worker, checkpoint n is
// complete everywhere and the runtime calls [Store.SetCommitted](n), which
// keeps retention from deleting it.
//
// On recovery the runtime calls [Store.Restore] with the id the coordinator
// says is complete everywhere (with a single worker, [LatestCheckpoint]
// gives it: a checkpoint complete in storage is complete), for the scopes
// the worker now owns, before opening their Backends. Restore copies
// exactly the scopes' key groups, so a worker that owns a different range
// after rescaling gets exactly its state; [Store.RestoreFrom] combines the
// checkpoints of several old workers.
//
// # Durability
//
// Pebble runs without a write-ahead log: local state is a cache of the last
// checkpoint plus the work done since, which replay reproduces. See [Open].
//
// # Incremental checkpoints
//
// Pebble's sstables are immutable and uniquely named within a store, so a
// checkpoint uploads only sstables storage does not have (by name and
// size); a checkpoint after a small change uploads the small new L0 file. An
// LSM compaction rewrites files, and the rewritten files are uploaded by the
// next checkpoint: on average a checkpoint uploads a fraction of the store
// that grows with the spread of the changes (see BenchmarkCheckpoint).
// Retention keeps the last Options.Retain checkpoints and deletes files no
// retained manifest references.
//
// # Fencing
//
// Manifests record the store's epoch ([Store.SetEpoch]). A store whose
// epoch is below that of a checkpoint already in storage gets [ErrFenced]:
// a newer assignment owns that state.
//
// # Metrics
//
// With Options.Registerer set, the store exports gale_state_* metrics:
// checkpoint duration, size, uploaded bytes and failures, restore duration
// and bytes, per-component write bytes and cache hits and misses, and
// Pebble's own figures (compactions, flushes, read and write amplification,
// disk usage, memtable and block cache) read from DB.Metrics() at scrape
// time.
package state
