// Package statetest checks implementations of state.CheckpointStorage
// against the interface's contract, so a new storage (the cluster's
// replicated one, say) is tested by the same cases as state.DirStorage:
//
//	func TestMyStorage(t *testing.T) {
//		statetest.TestStorage(t, func(t *testing.T) state.CheckpointStorage { return newMine(t) })
//	}
package statetest

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/gale-stream/gale/state"
)

// TestStorage runs the contract cases; newStorage returns an empty storage.
func TestStorage(t *testing.T, newStorage func(t *testing.T) state.CheckpointStorage) {
	t.Run("files round trip and list with sizes", func(t *testing.T) {
		ctx := t.Context()
		st := newStorage(t)
		files := map[string]string{
			"sst/abc/000001.sst":                strings.Repeat("x", 10_000),
			"sst/abc/000002.sst":                "",
			"ckpt/00000000000000000001/OPTIONS": "opts",
		}
		for name, content := range files {
			n, err := st.PutFile(ctx, name, strings.NewReader(content))
			if err != nil || n != int64(len(content)) {
				t.Fatalf("PutFile(%s) = %d, %v", name, n, err)
			}
		}
		listed, err := st.ListFiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != len(files) {
			t.Fatalf("ListFiles = %v, want %d files", listed, len(files))
		}
		for _, f := range listed {
			content, ok := files[f.Name]
			if !ok || f.Size != int64(len(content)) {
				t.Fatalf("listed %+v, stored %d bytes under that name (present %v)", f, len(content), ok)
			}
			r, err := st.OpenFile(ctx, f.Name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, []byte(content)) {
				t.Fatalf("OpenFile(%s): %d bytes, %v", f.Name, len(got), err)
			}
		}
		if _, err := st.PutFile(ctx, "sst/abc/000002.sst", strings.NewReader("replaced")); err != nil {
			t.Fatal(err)
		}
		r, err := st.OpenFile(ctx, "sst/abc/000002.sst")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != "replaced" {
			t.Fatalf("replaced file reads %q", got)
		}
		if err := st.DeleteFile(ctx, "sst/abc/000001.sst"); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteFile(ctx, "sst/abc/000001.sst"); err != nil {
			t.Fatalf("deleting a missing file: %v", err)
		}
		if _, err := st.OpenFile(ctx, "sst/abc/000001.sst"); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("OpenFile of a deleted file: %v, want ErrNotFound", err)
		}
	})

	t.Run("a failed put leaves nothing", func(t *testing.T) {
		ctx := t.Context()
		st := newStorage(t)
		failing := io.MultiReader(strings.NewReader("partial"), errReader{})
		if _, err := st.PutFile(ctx, "sst/x/000009.sst", failing); err == nil {
			t.Fatal("PutFile from a failing reader succeeded")
		}
		if listed, _ := st.ListFiles(ctx); len(listed) != 0 {
			t.Fatalf("after a failed put, storage lists %v", listed)
		}
	})

	t.Run("manifests", func(t *testing.T) {
		ctx := t.Context()
		st := newStorage(t)
		if ids, err := st.ListManifests(ctx); err != nil || len(ids) != 0 {
			t.Fatalf("empty storage lists manifests %v, %v", ids, err)
		}
		for _, id := range []uint64{12, 3, 100} {
			if err := st.PutManifest(ctx, id, []byte{byte(id)}); err != nil {
				t.Fatal(err)
			}
		}
		ids, err := st.ListManifests(ctx)
		if err != nil || !slices.Equal(ids, []uint64{3, 12, 100}) {
			t.Fatalf("ListManifests = %v, %v; want ascending [3 12 100]", ids, err)
		}
		if b, err := st.GetManifest(ctx, 12); err != nil || !bytes.Equal(b, []byte{12}) {
			t.Fatalf("GetManifest(12) = %v, %v", b, err)
		}
		if err := st.DeleteManifest(ctx, 12); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteManifest(ctx, 12); err != nil {
			t.Fatalf("deleting a missing manifest: %v", err)
		}
		if _, err := st.GetManifest(ctx, 12); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("GetManifest of a deleted manifest: %v, want ErrNotFound", err)
		}
		if files, _ := st.ListFiles(ctx); len(files) != 0 {
			t.Fatalf("manifests listed as files: %v", files)
		}
	})

	t.Run("bad names are refused", func(t *testing.T) {
		ctx := t.Context()
		st := newStorage(t)
		for _, name := range []string{"", "../escape", "a/../../b", "/abs", "a//b"} {
			if _, err := st.PutFile(ctx, name, strings.NewReader("x")); err == nil {
				t.Errorf("PutFile(%q) succeeded", name)
			}
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("reader failed") }
