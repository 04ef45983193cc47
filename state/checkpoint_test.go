package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/keygroup"
)

const testMaxPar = 64

func newStorage(t testing.TB) *DirStorage {
	t.Helper()
	st, err := NewDirStorage(t.TempDir())
	must(t, err)
	return st
}

// writeCounters sets counter "n" of key i to value(i) for every i in ids,
// through the backend of the scope owning the key.
func writeCounters(t testing.TB, backends []*Backend, ids []int, value func(int) int64) {
	t.Helper()
	for _, i := range ids {
		k := key(i)
		b := owner(backends, k)
		must(t, b.SetCurrentKey(k))
		c := NewCounter(b, "n")
		old, err := c.Get()
		must(t, err)
		_, err = c.Add(value(i) - old)
		must(t, err)
	}
	for _, b := range backends {
		must(t, b.Flush())
	}
}

func owner(backends []*Backend, k []byte) *Backend {
	for _, b := range backends {
		if b.scope.Groups.Contains(keygroup.Of(k, b.scope.MaxParallelism)) {
			return b
		}
	}
	return nil
}

// readCounters returns the counters of keys 0..n-1 that have one, read
// through backends (which must cover every key group).
func readCounters(t testing.TB, backends []*Backend, n int) map[int]int64 {
	t.Helper()
	out := map[int]int64{}
	for i := range n {
		k := key(i)
		b := owner(backends, k)
		if b == nil {
			t.Fatalf("no backend owns key %d", i)
		}
		must(t, b.SetCurrentKey(k))
		v, err := NewCounter(b, "n").Get()
		must(t, err)
		if v != 0 {
			out[i] = v
		}
	}
	return out
}

func tasks(t testing.TB, s *Store, comp string, parallelism int) []*Backend {
	t.Helper()
	var out []*Backend
	for i := range parallelism {
		b, err := s.Task(fullScope("t", comp, i, parallelism, testMaxPar))
		must(t, err)
		out = append(out, b)
	}
	return out
}

func closeAll(t testing.TB, bs []*Backend) {
	t.Helper()
	for _, b := range bs {
		must(t, b.Close())
	}
}

func scopesOf(bs []*Backend) []Scope {
	var out []Scope
	for _, b := range bs {
		out = append(out, b.Scope())
	}
	return out
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestRestoreExactlyTheKeyGroupRange(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir(), Options{})
	st := newStorage(t)
	const n = 3000
	all := tasks(t, s, "c", 1)
	writeCounters(t, all, seq(n), func(i int) int64 { return int64(i + 1) })
	must(t, NewOperatorValue[string](all[0], "pos").Set("checkpointed"))
	must(t, all[0].FlushForCheckpoint(ctx, 1))
	if _, err := s.Checkpoint(ctx, 1, st); err != nil {
		t.Fatal(err)
	}
	// After the checkpoint: change every key, add keys, change operator state.
	writeCounters(t, all, seq(n+500), func(i int) int64 { return int64(-i - 1) })
	must(t, NewOperatorValue[string](all[0], "pos").Set("later"))
	closeAll(t, all)

	sub := keygroup.Range{Start: 10, End: 30}
	restored := Scope{Topology: "t", Component: "c", Task: 0, Groups: sub, MaxParallelism: testMaxPar}
	must(t, s.Restore(ctx, st, 1, []Scope{restored}))

	all = tasks(t, s, "c", 1)
	got := readCounters(t, all, n+500)
	inSub, outSub := 0, 0
	for i := range n + 500 {
		g := keygroup.Of(key(i), testMaxPar)
		v, ok := got[i]
		switch {
		case sub.Contains(g) && i < n:
			inSub++
			if !ok || v != int64(i+1) {
				t.Fatalf("key %d (group %d, restored): %d, %v; want checkpoint value %d", i, g, v, ok, i+1)
			}
		case sub.Contains(g):
			if ok {
				t.Fatalf("key %d (group %d) written after the checkpoint survived the restore: %d", i, g, v)
			}
		default:
			outSub++
			if !ok || v != int64(-i-1) {
				t.Fatalf("key %d (group %d, not restored): %d, %v; want live value %d", i, g, v, ok, -i-1)
			}
		}
	}
	if inSub == 0 || outSub == 0 {
		t.Fatalf("degenerate test: %d keys inside the range, %d outside", inSub, outSub)
	}
	if pos, err := NewOperatorValue[string](all[0], "pos").Get(); err != nil || pos != "checkpointed" {
		t.Fatalf("operator state after restore: %q, %v", pos, err)
	}
}

func TestRescaleTwoTasksToThree(t *testing.T) {
	ctx := t.Context()
	const n = 4000
	want := map[int]int64{}
	for i := range n {
		want[i] = int64(i*7 + 1)
	}
	value := func(i int) int64 { return want[i] }

	t.Run("one worker", func(t *testing.T) {
		s := openStore(t, t.TempDir(), Options{})
		st := newStorage(t)
		old := tasks(t, s, "c", 2)
		writeCounters(t, old, seq(n), value)
		m, err := s.Checkpoint(ctx, 1, st)
		must(t, err)
		if len(m.Scopes) != 2 {
			t.Fatalf("manifest scopes %v, want the 2 tasks", m.Scopes)
		}
		closeAll(t, old)

		s2 := openStore(t, t.TempDir(), Options{})
		var newScopes []Scope
		for i := range 3 {
			newScopes = append(newScopes, fullScope("t", "c", i, 3, testMaxPar))
		}
		must(t, s2.Restore(ctx, st, 1, newScopes))
		if got := readCounters(t, tasks(t, s2, "c", 3), n); !mapsEqual(got, want) {
			t.Fatalf("after rescale: %d keys, want %d (first differences: %s)", len(got), len(want), diff(got, want))
		}
	})

	t.Run("two workers into three tasks", func(t *testing.T) {
		var sources []Source
		for w := range 2 {
			s := openStore(t, t.TempDir(), Options{})
			st := newStorage(t)
			b, err := s.Task(fullScope("t", "c", w, 2, testMaxPar))
			must(t, err)
			var mine []int
			for i := range n {
				if b.scope.Groups.Contains(keygroup.Of(key(i), testMaxPar)) {
					mine = append(mine, i)
				}
			}
			writeCounters(t, []*Backend{b}, mine, value)
			_, err = s.Checkpoint(ctx, 7, st)
			must(t, err)
			sources = append(sources, Source{Storage: st, ID: 7})
		}
		s3 := openStore(t, t.TempDir(), Options{})
		var newScopes []Scope
		for i := range 3 {
			newScopes = append(newScopes, fullScope("t", "c", i, 3, testMaxPar))
		}
		if err := s3.RestoreFrom(ctx, newScopes, sources[0]); !errors.Is(err, ErrIncompleteRestore) {
			t.Fatalf("restore from one of two workers: %v, want ErrIncompleteRestore", err)
		}
		if err := s3.RestoreFrom(ctx, newScopes, sources[0], sources[1], sources[0]); !errors.Is(err, ErrConflictingSources) {
			t.Fatalf("restore from a worker's checkpoint twice: %v, want ErrConflictingSources", err)
		}
		changed := fullScope("t", "c", 0, 3, testMaxPar*2)
		if err := s3.RestoreFrom(ctx, []Scope{changed}, sources...); !errors.Is(err, ErrIncompleteRestore) {
			t.Fatalf("restore with another max parallelism: %v, want ErrIncompleteRestore", err)
		}
		must(t, s3.RestoreFrom(ctx, newScopes, sources...))
		if got := readCounters(t, tasks(t, s3, "c", 3), n); !mapsEqual(got, want) {
			t.Fatalf("after rescale: %d keys, want %d (first differences: %s)", len(got), len(want), diff(got, want))
		}
	})
}

func mapsEqual(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func diff(got, want map[int]int64) string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			out = append(out, fmt.Sprintf("key %d: got %d (present %v) want %d", k, g, ok, v))
		}
		if len(out) == 5 {
			break
		}
	}
	return strings.Join(out, "; ")
}

func TestIncrementalCheckpointAndRetention(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir(), Options{Retain: 2})
	st := newStorage(t)
	b, err := s.Task(fullScope("t", "c", 0, 1, testMaxPar))
	must(t, err)
	v := NewValue[string](b, "v")
	pad := strings.Repeat("x", 100)
	for i := range 20000 {
		must(t, b.SetCurrentKey(key(i)))
		must(t, v.Set(fmt.Sprintf("%d-%s", i, pad)))
	}
	must(t, b.FlushForCheckpoint(ctx, 1))
	// Settle the bulk into the bottom level, so the small changes below
	// stay in L0 and the checkpoints share the bulk's files.
	must(t, s.db.Flush())
	must(t, s.db.Compact(ctx, []byte{0}, []byte{0xFF}, true))
	m1, err := s.Checkpoint(ctx, 1, st)
	must(t, err)
	if m1.UploadedBytes != m1.TotalBytes || m1.TotalBytes < 200_000 {
		t.Fatalf("first checkpoint uploaded %d of %d bytes; want everything, at least 200 kB", m1.UploadedBytes, m1.TotalBytes)
	}
	manifests := []*Manifest{m1}
	for id := uint64(2); id <= 4; id++ {
		for i := range 10 {
			must(t, b.SetCurrentKey(key(i)))
			must(t, v.Set(fmt.Sprintf("changed in %d", id)))
		}
		must(t, b.FlushForCheckpoint(ctx, id))
		m, err := s.Checkpoint(ctx, id, st)
		must(t, err)
		// Checkpoint 2 adds one small sstable. Later ones may upload more:
		// when L0 compacts into the base level, the rewritten files are new.
		if id == 2 && m.UploadedBytes*20 > m1.UploadedBytes {
			t.Fatalf("checkpoint %d after changing 10 keys uploaded %d bytes, the first %d", id, m.UploadedBytes, m1.UploadedBytes)
		}
		if m.UploadedBytes > m.TotalBytes || m.TotalBytes < m1.TotalBytes/2 {
			t.Fatalf("checkpoint %d: uploaded %d, total %d bytes (first: %d)", id, m.UploadedBytes, m.TotalBytes, m1.TotalBytes)
		}
		manifests = append(manifests, m)
	}
	ids, err := st.ListManifests(ctx)
	must(t, err)
	if !slices.Equal(ids, []uint64{3, 4}) {
		t.Fatalf("retained manifests %v, want [3 4]", ids)
	}
	stored, err := st.ListFiles(ctx)
	must(t, err)
	have := map[string]int64{}
	for _, f := range stored {
		have[f.Name] = f.Size
	}
	referenced := map[string]bool{}
	for _, m := range manifests[2:] {
		for _, f := range m.Files {
			referenced[f.Path] = true
			if have[f.Path] != f.Size {
				t.Fatalf("file %s of retained checkpoint %d: stored size %d, want %d", f.Path, m.ID, have[f.Path], f.Size)
			}
		}
	}
	shared, dropped := 0, 0
	for _, f := range manifests[0].Files {
		if referenced[f.Path] {
			shared++
		} else if _, ok := have[f.Path]; ok {
			t.Fatalf("file %s only checkpoint 1 referenced is still stored", f.Path)
		} else {
			dropped++
		}
	}
	if shared == 0 || dropped == 0 {
		t.Fatalf("checkpoint 1 shares %d files with the retained ones and lost %d; want both > 0", shared, dropped)
	}
	for name := range have {
		if !referenced[name] {
			t.Fatalf("stored file %s is referenced by no retained checkpoint", name)
		}
	}
	// The retained checkpoint 3 restores, through files it shares with 1.
	s2 := openStore(t, t.TempDir(), Options{})
	must(t, s2.Restore(ctx, st, 3, []Scope{b.Scope()}))
	b2, err := s2.Task(b.Scope())
	must(t, err)
	v2 := NewValue[string](b2, "v")
	for _, i := range []int{0, 9, 10, 19999} {
		must(t, b2.SetCurrentKey(key(i)))
		got, err := v2.Get()
		must(t, err)
		want := fmt.Sprintf("%d-%s", i, pad)
		if i < 10 {
			want = "changed in 3"
		}
		if got != want {
			t.Fatalf("key %d from checkpoint 3: %q, want %q", i, got, want)
		}
	}
	if m, err := LatestCheckpoint(ctx, st); err != nil || m.ID != 4 {
		t.Fatalf("LatestCheckpoint = %v, %v", m, err)
	}
}

func TestCheckpointFencingAndIDs(t *testing.T) {
	ctx := t.Context()
	st := newStorage(t)
	if _, err := LatestCheckpoint(ctx, st); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestCheckpoint of empty storage: %v", err)
	}
	newer := openStore(t, t.TempDir(), Options{Epoch: 5})
	stale := openStore(t, t.TempDir(), Options{Epoch: 3})
	_, err := newer.Checkpoint(ctx, 10, st)
	must(t, err)
	if _, err := stale.Checkpoint(ctx, 11, st); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale epoch checkpoint: %v, want ErrFenced", err)
	}
	if _, err := newer.Checkpoint(ctx, 10, st); !errors.Is(err, ErrCheckpointExists) {
		t.Fatalf("repeated id: %v, want ErrCheckpointExists", err)
	}
	stale.SetEpoch(6)
	if m, err := stale.Checkpoint(ctx, 11, st); err != nil || m.Epoch != 6 {
		t.Fatalf("after SetEpoch(6): %v, %v", m, err)
	}
	ids, _ := st.ListManifests(ctx)
	if !slices.Equal(ids, []uint64{10, 11}) {
		t.Fatalf("manifests %v, want [10 11]", ids)
	}
}

// TestFlushForCheckpointHoldsLaterWrites checks that writes after a task's
// barrier never reach the checkpoint, even when the cache overflows before
// the store takes it.
func TestFlushForCheckpointHoldsLaterWrites(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir(), Options{BackendCacheBytes: 16 << 10})
	st := newStorage(t)
	bs := tasks(t, s, "c", 1)
	writeCounters(t, bs, seq(100), func(i int) int64 { return 1 })
	must(t, bs[0].FlushForCheckpoint(ctx, 1))
	c := NewCounter(bs[0], "n")
	for i := range 2000 { // far past the cache bound
		must(t, bs[0].SetCurrentKey(key(i)))
		_, err := c.Add(100)
		must(t, err)
	}
	if err := bs[0].Flush(); !errors.Is(err, ErrCheckpointPending) {
		t.Fatalf("Flush during a pending checkpoint: %v, want ErrCheckpointPending", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := bs[0].FlushForCheckpoint(short, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FlushForCheckpoint(2) before checkpoint 1 was taken: %v, want to wait until the deadline", err)
	}
	if _, err := s.Checkpoint(ctx, 1, st); err != nil {
		t.Fatal(err)
	}
	// Later writes now flush normally.
	must(t, bs[0].SetCurrentKey(key(5000)))
	_, err := c.Add(1)
	must(t, err)
	must(t, bs[0].Flush())
	closeAll(t, bs)

	s2 := openStore(t, t.TempDir(), Options{})
	must(t, s2.Restore(ctx, st, 1, scopesOf(bs)))
	got := readCounters(t, tasks(t, s2, "c", 1), 2000)
	want := map[int]int64{}
	for i := range 100 {
		want[i] = 1
	}
	if !mapsEqual(got, want) {
		t.Fatalf("checkpoint holds post-barrier writes: %s", diff(got, want))
	}
	if got := readCounters(t, tasks(t, s, "c", 1), 5001); got[5000] != 1 || got[1500] != 100 {
		t.Fatalf("live store lost writes after the checkpoint: key 5000=%d key 1500=%d", got[5000], got[1500])
	}
}

// failingStorage fails PutFile, after two successful ones, while armed.
type failingStorage struct {
	CheckpointStorage
	armed atomic.Bool
	puts  atomic.Int32
}

var errStorageDown = errors.New("storage down")

func (f *failingStorage) PutFile(ctx context.Context, name string, r io.Reader) (int64, error) {
	if f.armed.Load() && f.puts.Add(1) > 2 {
		return 0, errStorageDown
	}
	return f.CheckpointStorage.PutFile(ctx, name, r)
}

func TestCheckpointFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(op errorfs.Op) bool // on the store's FS
		want error
	}{
		{"pebble checkpoint cannot create files", func(op errorfs.Op) bool {
			return strings.Contains(op.Path, "/staging/") && (op.Kind == errorfs.OpCreate || op.Kind == errorfs.OpLink)
		}, errorfs.ErrInjected},
		{"reading staged files fails", func(op errorfs.Op) bool {
			return strings.Contains(op.Path, "/staging/") && (op.Kind == errorfs.OpFileReadAt || op.Kind == errorfs.OpFileRead)
		}, errorfs.ErrInjected},
		{"storage fails", nil, errStorageDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			var armed atomic.Bool
			fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if armed.Load() && tc.fail != nil && tc.fail(op) {
					return errorfs.ErrInjected
				}
				return nil
			}))
			s := openStore(t, t.TempDir(), Options{FS: fs})
			st := &failingStorage{CheckpointStorage: newStorage(t)}
			bs := tasks(t, s, "c", 2)
			writeCounters(t, bs, seq(1000), func(i int) int64 { return int64(i) + 1 })
			_, err := s.Checkpoint(ctx, 1, st)
			must(t, err)

			writeCounters(t, bs, seq(1000), func(i int) int64 { return int64(i) + 2 })
			armed.Store(true)
			st.armed.Store(tc.fail == nil)
			if _, err := s.Checkpoint(ctx, 2, st); !errors.Is(err, tc.want) {
				t.Fatalf("checkpoint under fault: %v, want %v", err, tc.want)
			}
			armed.Store(false)
			st.armed.Store(false)
			if ids, _ := st.ListManifests(ctx); !slices.Equal(ids, []uint64{1}) {
				t.Fatalf("manifests after failed checkpoint: %v, want [1]", ids)
			}
			// What the failed checkpoint uploaded is gone again.
			m1, err := ReadManifest(ctx, st, 1)
			must(t, err)
			var want1 []string
			for _, f := range m1.Files {
				want1 = append(want1, f.Path)
			}
			stored, err := st.ListFiles(ctx)
			must(t, err)
			var names []string
			for _, f := range stored {
				names = append(names, f.Name)
			}
			slices.Sort(names)
			slices.Sort(want1)
			if !slices.Equal(names, want1) {
				t.Fatalf("storage after the failed checkpoint holds %v, want checkpoint 1's files %v", names, want1)
			}
			// The store keeps working, and the next checkpoint succeeds.
			writeCounters(t, bs, seq(1200), func(i int) int64 { return int64(i) + 3 })
			if _, err := s.Checkpoint(ctx, 3, st); err != nil {
				t.Fatalf("checkpoint after fault: %v", err)
			}
			s2 := openStore(t, t.TempDir(), Options{})
			must(t, s2.Restore(ctx, st, 3, scopesOf(bs)))
			got := readCounters(t, tasks(t, s2, "c", 2), 1200)
			want := map[int]int64{}
			for i := range 1200 {
				want[i] = int64(i) + 3
			}
			if !mapsEqual(got, want) {
				t.Fatalf("restored checkpoint 3: %s", diff(got, want))
			}
		})
	}
}

func TestRestoreDetectsCorruptFile(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir(), Options{})
	st := newStorage(t)
	bs := tasks(t, s, "c", 1)
	writeCounters(t, bs, seq(500), func(i int) int64 { return 1 })
	m, err := s.Checkpoint(ctx, 1, st)
	must(t, err)
	var sst ManifestFile
	for _, f := range m.Files {
		if strings.HasSuffix(f.Name, ".sst") {
			sst = f
		}
	}
	r, err := st.OpenFile(ctx, sst.Path)
	must(t, err)
	data, _ := io.ReadAll(r)
	r.Close()
	data[len(data)/2] ^= 0xFF
	_, err = st.PutFile(ctx, sst.Path, strings.NewReader(string(data)))
	must(t, err)
	s2 := openStore(t, t.TempDir(), Options{})
	if err := s2.Restore(ctx, st, 1, scopesOf(bs)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("restore of a corrupted file: %v, want ErrCorrupt", err)
	}
}

// TestMetrics gathers through a pedantic registry (which checks every
// metric against its description). testutil is not used: it needs a
// module (kylelemons/godebug) go.sum does not list.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s := openStore(t, t.TempDir(), Options{Registerer: reg})
	bs := tasks(t, s, "c", 1)
	writeCounters(t, bs, seq(100), func(i int) int64 { return 1 })
	m, err := s.Checkpoint(t.Context(), 1, newStorage(t))
	must(t, err)
	families, err := reg.Gather()
	must(t, err)
	values := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			switch {
			case mt.GetCounter() != nil:
				values[f.GetName()] += mt.GetCounter().GetValue()
			case mt.GetGauge() != nil:
				values[f.GetName()] += mt.GetGauge().GetValue()
			case mt.GetHistogram() != nil:
				values[f.GetName()] += float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	for name, want := range map[string]float64{
		"gale_state_checkpoint_uploaded_bytes_total": float64(m.UploadedBytes),
		"gale_state_checkpoint_size_bytes":           float64(m.TotalBytes),
		"gale_state_checkpoint_duration_seconds":     1,
		"gale_state_checkpoint_last_id":              1,
	} {
		if got := values[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"gale_state_write_bytes_total", "gale_state_checkpoint_last_timestamp_seconds", "gale_state_pebble_flushes_total", "gale_state_pebble_disk_usage_bytes"} {
		if values[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, values[name])
		}
	}
}

func TestRetentionSparesCommittedCheckpoint(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir(), Options{Retain: 1})
	st := newStorage(t)
	bs := tasks(t, s, "c", 1)
	for id := uint64(1); id <= 4; id++ {
		writeCounters(t, bs, seq(100), func(i int) int64 { return int64(id) })
		if id == 2 {
			s.SetCommitted(2)
		}
		_, err := s.Checkpoint(ctx, id, st)
		must(t, err)
	}
	ids, err := st.ListManifests(ctx)
	must(t, err)
	if !slices.Equal(ids, []uint64{2, 3, 4}) {
		t.Fatalf("manifests %v, want [2 3 4]: the committed one and later", ids)
	}
	s2 := openStore(t, t.TempDir(), Options{})
	must(t, s2.Restore(ctx, st, 2, scopesOf(bs)))
	if got := readCounters(t, tasks(t, s2, "c", 1), 100); got[0] != 2 || got[99] != 2 || len(got) != 100 {
		t.Fatalf("committed checkpoint 2 restores %d keys, key 0 = %d", len(got), got[0])
	}
	s.SetCommitted(4)
	writeCounters(t, bs, seq(100), func(i int) int64 { return 5 })
	_, err = s.Checkpoint(ctx, 5, st)
	must(t, err)
	if ids, _ := st.ListManifests(ctx); !slices.Equal(ids, []uint64{4, 5}) {
		t.Fatalf("after committing 4: manifests %v, want [4 5]", ids)
	}
}

// TestRestoreIgnoresStaleGroupsOfOtherSources checks that restoring from
// several workers' checkpoints takes each key group only from the
// checkpoint whose scopes own it, although a worker's sstables may still
// hold stale data of groups it owned before.
func TestRestoreIgnoresStaleGroupsOfOtherSources(t *testing.T) {
	ctx := t.Context()
	const n = 2000
	// Worker A once owned everything, then only task 0 of 2.
	sa := openStore(t, t.TempDir(), Options{})
	stA := newStorage(t)
	everything := tasks(t, sa, "c", 1)
	writeCounters(t, everything, seq(n), func(i int) int64 { return -1 })
	closeAll(t, everything)
	a, err := sa.Task(fullScope("t", "c", 0, 2, testMaxPar))
	must(t, err)
	must(t, NewOperatorValue[string](a, "pos").Set("a0"))
	var mineA, mineB []int
	for i := range n {
		if a.scope.Groups.Contains(keygroup.Of(key(i), testMaxPar)) {
			mineA = append(mineA, i)
		} else {
			mineB = append(mineB, i)
		}
	}
	writeCounters(t, []*Backend{a}, mineA, func(i int) int64 { return int64(i) + 1 })
	_, err = sa.Checkpoint(ctx, 5, stA)
	must(t, err)

	// Worker B owns task 1 of 2, fresh.
	sb := openStore(t, t.TempDir(), Options{})
	stB := newStorage(t)
	b, err := sb.Task(fullScope("t", "c", 1, 2, testMaxPar))
	must(t, err)
	must(t, NewOperatorValue[string](b, "pos").Set("b1"))
	writeCounters(t, []*Backend{b}, mineB, func(i int) int64 { return int64(i) + 1 })
	_, err = sb.Checkpoint(ctx, 5, stB)
	must(t, err)

	want := map[int]int64{}
	for i := range n {
		want[i] = int64(i) + 1
	}
	// Either source order must give the fresh state.
	for _, order := range [][]Source{{{stA, 5}, {stB, 5}}, {{stB, 5}, {stA, 5}}} {
		s3 := openStore(t, t.TempDir(), Options{})
		var scopes []Scope
		for i := range 2 {
			scopes = append(scopes, fullScope("t", "c", i, 2, testMaxPar))
		}
		must(t, s3.RestoreFrom(ctx, scopes, order...))
		bs := tasks(t, s3, "c", 2)
		if got := readCounters(t, bs, n); !mapsEqual(got, want) {
			t.Fatalf("stale groups leaked into the restore: %s", diff(got, want))
		}
		for i, wantPos := range []string{"a0", "b1"} {
			if pos, err := NewOperatorValue[string](bs[i], "pos").Get(); err != nil || pos != wantPos {
				t.Fatalf("task %d operator state %q, %v; want %q", i, pos, err, wantPos)
			}
		}
	}
}
