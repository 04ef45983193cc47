package state

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// CheckpointSpace holds the checkpoint storage of one topology, split in
// namespaces: one per worker slot ("worker-0", "worker-1", ...), since a
// [CheckpointStorage] belongs to one live Store, and "commits", where the
// coordinator of a topology run in several workers records which
// checkpoints completed on every worker. Every worker must see the same
// space, so that after a failure or a rebalance a worker can restore key
// groups another worker checkpointed: a shared directory ([DirSpace]) or
// replicas on the cluster's nodes.
type CheckpointSpace interface {
	// Namespace returns the storage of one namespace, creating it when
	// needed. Names are as for files: letters, digits, '-', '_' and '.'.
	Namespace(ctx context.Context, name string) (CheckpointStorage, error)
}

// DirSpace is a CheckpointSpace in a local or shared directory: namespace
// ns is a [DirStorage] at root/ns.
type DirSpace struct {
	root string
}

// NewDirSpace returns a DirSpace rooted at root.
func NewDirSpace(root string) *DirSpace { return &DirSpace{root: root} }

// Namespace returns the DirStorage of namespace name.
func (d *DirSpace) Namespace(_ context.Context, name string) (CheckpointStorage, error) {
	if err := validName(name); err != nil || strings.Contains(name, "/") {
		return nil, fmt.Errorf("state: invalid checkpoint namespace %q", name)
	}
	return NewDirStorage(filepath.Join(d.root, name))
}
