package ckptstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gale-stream/gale/state"
)

// localNS is this node's copy of one namespace: a state.DirStorage at
// Dir/TOPOLOGY/NAMESPACE, opened through state.DirSpace (which checks the
// namespace name again) and created on the first write, so that reads and
// listings, which peers send for every namespace they serve, leave no empty
// directories behind. It is safe for concurrent use.
type localNS struct {
	space *state.DirSpace
	dir   string
	name  string

	mu sync.Mutex
	st state.CheckpointStorage // nil until opened
}

var _ state.CheckpointStorage = (*localNS)(nil)

func newLocalNS(root string, ref nsRef) *localNS {
	topoDir := filepath.Join(root, topologyDir(ref.topology))
	return &localNS{space: state.NewDirSpace(topoDir), dir: filepath.Join(topoDir, ref.namespace), name: ref.namespace}
}

// storage returns the DirStorage, opening it if the namespace exists or
// create is set; it returns nil when the namespace does not exist and
// create is not set.
func (l *localNS) storage(ctx context.Context, create bool) (state.CheckpointStorage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return l.st, nil
	}
	if !create {
		if _, err := os.Stat(l.dir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	st, err := l.space.Namespace(ctx, l.name)
	if err != nil {
		return nil, err
	}
	l.st = st
	return st, nil
}

func (l *localNS) PutFile(ctx context.Context, name string, r io.Reader) (int64, error) {
	st, err := l.storage(ctx, true)
	if err != nil {
		return 0, err
	}
	return st.PutFile(ctx, name, r)
}

func (l *localNS) OpenFile(ctx context.Context, name string) (io.ReadCloser, error) {
	st, err := l.storage(ctx, false)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("state: stored file %s: %w", name, state.ErrNotFound)
	}
	return st.OpenFile(ctx, name)
}

func (l *localNS) ListFiles(ctx context.Context) ([]state.FileInfo, error) {
	st, err := l.storage(ctx, false)
	if err != nil || st == nil {
		return nil, err
	}
	return st.ListFiles(ctx)
}

func (l *localNS) DeleteFile(ctx context.Context, name string) error {
	st, err := l.storage(ctx, false)
	if err != nil || st == nil {
		return err
	}
	return st.DeleteFile(ctx, name)
}

func (l *localNS) PutManifest(ctx context.Context, id uint64, data []byte) error {
	st, err := l.storage(ctx, true)
	if err != nil {
		return err
	}
	return st.PutManifest(ctx, id, data)
}

func (l *localNS) GetManifest(ctx context.Context, id uint64) ([]byte, error) {
	st, err := l.storage(ctx, false)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("state: manifest of checkpoint %d: %w", id, state.ErrNotFound)
	}
	return st.GetManifest(ctx, id)
}

func (l *localNS) ListManifests(ctx context.Context) ([]uint64, error) {
	st, err := l.storage(ctx, false)
	if err != nil || st == nil {
		return nil, err
	}
	return st.ListManifests(ctx)
}

func (l *localNS) DeleteManifest(ctx context.Context, id uint64) error {
	st, err := l.storage(ctx, false)
	if err != nil || st == nil {
		return err
	}
	return st.DeleteManifest(ctx, id)
}
