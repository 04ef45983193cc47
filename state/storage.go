package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CheckpointStorage is where checkpoints outlive the node: a directory on a
// shared file system ([DirStorage]) now, replicas on peer nodes later.
//
// It holds two kinds of objects: files (the checkpoint's Pebble files, named
// by the Store, immutable once written) and manifests (one per complete
// checkpoint, by id). A checkpoint is complete exactly when its manifest
// exists, so the Store writes the manifest last.
//
// One storage namespace belongs to one logical worker slot: retention in
// [Store.Checkpoint] deletes every file no retained manifest references, so
// two live stores must not share a namespace (a fenced, stale store may
// share it with its successor: its checkpoints fail with ErrFenced).
// Methods may be called concurrently; a Store calls them from the goroutine
// that runs Checkpoint or restore.
type CheckpointStorage interface {
	// PutFile stores what r yields under name and returns its size. The file
	// must become visible only once complete (write then rename); a file
	// that already exists is replaced.
	PutFile(ctx context.Context, name string, r io.Reader) (int64, error)
	// OpenFile opens a stored file for reading; it returns an error
	// wrapping ErrNotFound when there is none. The caller closes it.
	OpenFile(ctx context.Context, name string) (io.ReadCloser, error)
	// ListFiles lists every stored file (not manifests) with its size.
	ListFiles(ctx context.Context) ([]FileInfo, error)
	// DeleteFile deletes a file; deleting a missing file is not an error.
	DeleteFile(ctx context.Context, name string) error

	// PutManifest atomically stores the manifest of checkpoint id.
	PutManifest(ctx context.Context, id uint64, data []byte) error
	// GetManifest returns the manifest of checkpoint id, or an error
	// wrapping ErrNotFound.
	GetManifest(ctx context.Context, id uint64) ([]byte, error)
	// ListManifests returns the ids of the stored manifests, ascending.
	ListManifests(ctx context.Context) ([]uint64, error)
	// DeleteManifest deletes the manifest of checkpoint id; deleting a
	// missing manifest is not an error.
	DeleteManifest(ctx context.Context, id uint64) error
}

// FileInfo describes a stored file.
type FileInfo struct {
	Name string
	Size int64
}

// DirStorage is a CheckpointStorage in a local or shared directory:
// files under root/files/<name>, manifests under root/manifests/<id>.json.
// Writes go to a temporary file that is synced and renamed into place.
type DirStorage struct {
	root string
}

// NewDirStorage returns a DirStorage rooted at root, creating it.
func NewDirStorage(root string) (*DirStorage, error) {
	for _, d := range []string{"files", "manifests"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("state: checkpoint storage %s: %w", root, err)
		}
	}
	return &DirStorage{root: root}, nil
}

// Root returns the storage's directory.
func (d *DirStorage) Root() string { return d.root }

// validName accepts slash-separated names of [A-Za-z0-9._-] elements, none
// of them "." or "..".
func validName(name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("state: invalid storage name %q", name)
	}
	for el := range strings.SplitSeq(name, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("state: invalid storage name %q", name)
		}
		for _, c := range el {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("state: invalid storage name %q", name)
			}
		}
	}
	return nil
}

func (d *DirStorage) filePath(name string) string {
	return filepath.Join(d.root, "files", filepath.FromSlash(name))
}

func (d *DirStorage) manifestPath(id uint64) string {
	return filepath.Join(d.root, "manifests", fmt.Sprintf("%020d.json", id))
}

// writeAtomic writes r to path through a synced temporary file and a rename.
func writeAtomic(ctx context.Context, path string, r io.Reader) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// PutFile implements CheckpointStorage.
func (d *DirStorage) PutFile(ctx context.Context, name string, r io.Reader) (int64, error) {
	if err := validName(name); err != nil {
		return 0, err
	}
	n, err := writeAtomic(ctx, d.filePath(name), r)
	if err != nil {
		return 0, fmt.Errorf("state: store file %s: %w", name, err)
	}
	return n, nil
}

// OpenFile implements CheckpointStorage.
func (d *DirStorage) OpenFile(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(d.filePath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("state: stored file %s: %w", name, ErrNotFound)
	}
	return f, err
}

// ListFiles implements CheckpointStorage.
func (d *DirStorage) ListFiles(ctx context.Context) ([]FileInfo, error) {
	base := filepath.Join(d.root, "files")
	var out []FileInfo
	err := filepath.WalkDir(base, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return ctx.Err()
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, path)
		if err != nil {
			return err
		}
		out = append(out, FileInfo{Name: filepath.ToSlash(rel), Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: list files in %s: %w", d.root, err)
	}
	return out, nil
}

// DeleteFile implements CheckpointStorage.
func (d *DirStorage) DeleteFile(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := os.Remove(d.filePath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state: delete file %s: %w", name, err)
	}
	// Remove directories left empty, up to files/ itself; failure means
	// the directory is not empty.
	base := filepath.Join(d.root, "files")
	for dir := filepath.Dir(d.filePath(name)); dir != base && strings.HasPrefix(dir, base); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// PutManifest implements CheckpointStorage.
func (d *DirStorage) PutManifest(ctx context.Context, id uint64, data []byte) error {
	if _, err := writeAtomic(ctx, d.manifestPath(id), strings.NewReader(string(data))); err != nil {
		return fmt.Errorf("state: store manifest %d: %w", id, err)
	}
	return nil
}

// GetManifest implements CheckpointStorage.
func (d *DirStorage) GetManifest(ctx context.Context, id uint64) ([]byte, error) {
	b, err := os.ReadFile(d.manifestPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("state: manifest of checkpoint %d: %w", id, ErrNotFound)
	}
	return b, err
}

// ListManifests implements CheckpointStorage.
func (d *DirStorage) ListManifests(ctx context.Context) ([]uint64, error) {
	entries, err := os.ReadDir(filepath.Join(d.root, "manifests"))
	if err != nil {
		return nil, fmt.Errorf("state: list manifests in %s: %w", d.root, err)
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		if id, err := strconv.ParseUint(name, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// DeleteManifest implements CheckpointStorage.
func (d *DirStorage) DeleteManifest(ctx context.Context, id uint64) error {
	if err := os.Remove(d.manifestPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state: delete manifest %d: %w", id, err)
	}
	return nil
}
