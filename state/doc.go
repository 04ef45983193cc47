// Package state is gale's keyed state: one Pebble database per worker
// process, a [Backend] per task with typed state handles bound to the
// current record key, and incremental checkpoints copied to storage that
// survives the node.
//
// (The full manual is written below as the package grows.)
package state
