package state

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 8 << 20
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 4 << 20
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func fullScope(topo, comp string, task, parallelism, maxPar int) Scope {
	return Scope{Topology: topo, Component: comp, Task: task, MaxParallelism: maxPar,
		Groups: keygroup.RangeOf(task, parallelism, maxPar)}
}

func key(v any) []byte { return AppendRecordKey(nil, v) }

type sessionInfo struct {
	User   string
	Clicks int
	Pages  []string
}

func TestTypedStateRoundTrip(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	b, err := s.Task(fullScope("t", "c", 0, 1, 16))
	if err != nil {
		t.Fatal(err)
	}
	val := NewValue[sessionInfo](b, "session")
	m := NewMap[string, int](b, "pages")
	l := NewList[float64](b, "amounts")
	c := NewCounter(b, "n")

	check := func(t *testing.T, user string, wantClicks int) {
		t.Helper()
		if err := b.SetCurrentKey(key(user)); err != nil {
			t.Fatal(err)
		}
		got, err := val.Get()
		if err != nil {
			t.Fatal(err)
		}
		want := sessionInfo{User: user, Clicks: wantClicks, Pages: []string{"/a", "/b"}}
		if got.User != want.User || got.Clicks != want.Clicks || !slices.Equal(got.Pages, want.Pages) {
			t.Fatalf("value %+v, want %+v", got, want)
		}
		entries := map[string]int{}
		if err := m.Iterate(func(k string, v int) bool { entries[k] = v; return true }); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"/a": wantClicks, "/b": 2 * wantClicks}; !maps.Equal(entries, want) {
			t.Fatalf("map %v, want %v", entries, want)
		}
		if v, err := m.Get("/b"); err != nil || v != 2*wantClicks {
			t.Fatalf("map get = %d, %v", v, err)
		}
		if _, err := m.Get("/gone"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted map entry: %v, want ErrNotFound", err)
		}
		items, err := l.Get()
		if err != nil || !slices.Equal(items, []float64{1.5, float64(wantClicks)}) {
			t.Fatalf("list = %v, %v", items, err)
		}
		if n, err := c.Get(); err != nil || n != int64(wantClicks) {
			t.Fatalf("counter = %d, %v", n, err)
		}
	}
	users := []string{"alice", "bob", "carol\x00"}
	for i, u := range users {
		if err := b.SetCurrentKey(key(u)); err != nil {
			t.Fatal(err)
		}
		if _, err := val.Get(); !errors.Is(err, ErrNotFound) {
			t.Fatalf("fresh value: %v, want ErrNotFound", err)
		}
		must(t, val.Set(sessionInfo{User: u, Clicks: i + 1, Pages: []string{"/a", "/b"}}))
		must(t, m.Put("/a", i+1))
		must(t, m.Put("/b", 2*(i+1)))
		must(t, m.Put("/gone", 0))
		must(t, m.Delete("/gone"))
		must(t, l.Append(1.5))
		must(t, l.Append(float64(i+1)))
		for range i + 1 {
			if _, err := c.Add(1); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("before flush", func(t *testing.T) {
		for i, u := range users {
			check(t, u, i+1)
		}
	})
	must(t, b.Flush())
	t.Run("after flush", func(t *testing.T) {
		for i, u := range users {
			check(t, u, i+1)
		}
	})
	t.Run("clear", func(t *testing.T) {
		must(t, b.SetCurrentKey(key("alice")))
		must(t, val.Clear())
		must(t, m.Clear())
		must(t, l.Clear())
		must(t, c.Clear())
		if _, err := val.Get(); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cleared value: %v", err)
		}
		n := 0
		must(t, m.Iterate(func(string, int) bool { n++; return true }))
		items, _ := l.Get()
		cnt, _ := c.Get()
		if n != 0 || len(items) != 0 || cnt != 0 {
			t.Fatalf("after clear: map %d entries, list %v, counter %d", n, items, cnt)
		}
		check(t, "bob", 2)
	})
}

func TestPersistenceAfterFlushAndReopen(t *testing.T) {
	dir := t.TempDir()
	scope := fullScope("t", "c", 1, 2, 32)
	var keys [][]byte
	for i := 0; len(keys) < 200; i++ {
		k := key(i)
		if scope.Groups.Contains(keygroup.Of(k, scope.MaxParallelism)) {
			keys = append(keys, k)
		}
	}
	func() {
		s := openStore(t, dir, Options{})
		b, err := s.Task(scope)
		must(t, err)
		c := NewCounter(b, "n")
		op := NewOperatorValue[int64](b, "offset")
		for i, k := range keys {
			must(t, b.SetCurrentKey(k))
			_, err := c.Add(int64(i + 1))
			must(t, err)
		}
		must(t, op.Set(12345))
		must(t, b.Close())
		must(t, s.Close())
		if _, err := c.Get(); !errors.Is(err, ErrClosed) {
			t.Fatalf("after close: %v, want ErrClosed", err)
		}
	}()
	s := openStore(t, dir, Options{})
	b, err := s.Task(scope)
	must(t, err)
	c := NewCounter(b, "n")
	for i, k := range keys {
		must(t, b.SetCurrentKey(k))
		if n, err := c.Get(); err != nil || n != int64(i+1) {
			t.Fatalf("key %d after reopen: %d, %v", i, n, err)
		}
	}
	if off, err := NewOperatorValue[int64](b, "offset").Get(); err != nil || off != 12345 {
		t.Fatalf("operator state after reopen: %d, %v", off, err)
	}
}

func TestSetCurrentKeyOutsideRange(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	scope := fullScope("t", "count", 0, 4, 64)
	b, err := s.Task(scope)
	must(t, err)
	c := NewCounter(b, "n")
	var outside []byte
	for i := 0; outside == nil; i++ {
		if k := key(i); !scope.Groups.Contains(keygroup.Of(k, 64)) {
			outside = k
		}
	}
	if err := b.SetCurrentKey(outside); !errors.Is(err, ErrKeyGroupOutOfRange) {
		t.Fatalf("SetCurrentKey outside: %v", err)
	}
	if _, err := c.Add(1); !errors.Is(err, ErrKeyGroupOutOfRange) {
		t.Fatalf("Add after failed SetCurrentKey: %v", err)
	}
	fresh, err := s.Task(fullScope("t", "other", 0, 1, 64))
	must(t, err)
	if _, err := NewCounter(fresh, "n").Add(1); !errors.Is(err, ErrNoCurrentKey) {
		t.Fatalf("Add before SetCurrentKey: %v", err)
	}
}

func TestTaskRejectsBadAndOverlappingScopes(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	_, err := s.Task(fullScope("t", "c", 0, 2, 16))
	must(t, err)
	for _, tc := range []struct {
		name  string
		scope Scope
		want  error
	}{
		{"same task", fullScope("t", "c", 0, 2, 16), ErrScopeInUse},
		{"overlapping groups", Scope{Topology: "t", Component: "c", Task: 5, Groups: keygroup.Range{Start: 7, End: 9}, MaxParallelism: 16}, ErrScopeInUse},
		{"empty component", Scope{Topology: "t", MaxParallelism: 16}, ErrInvalidScope},
		{"groups beyond max", Scope{Topology: "t", Component: "d", Groups: keygroup.Range{Start: 0, End: 17}, MaxParallelism: 16}, ErrInvalidScope},
		{"max parallelism too large", Scope{Topology: "t", Component: "d", MaxParallelism: OperatorGroup + 1}, ErrInvalidScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Task(tc.scope); !errors.Is(err, tc.want) {
				t.Fatalf("Task(%v) = %v, want %v", tc.scope, err, tc.want)
			}
		})
	}
	if _, err := s.Task(fullScope("t", "c", 1, 2, 16)); err != nil {
		t.Fatalf("disjoint scope: %v", err)
	}
}

func TestCacheBoundFlushesAndKeepsReadingOwnWrites(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{BackendCacheBytes: 64 << 10})
	b, err := s.Task(fullScope("t", "c", 0, 1, 8))
	must(t, err)
	v := NewValue[string](b, "v")
	const n = 5000
	for i := range n {
		must(t, b.SetCurrentKey(key(i)))
		must(t, v.Set(fmt.Sprintf("value-%d", i)))
	}
	if b.size > 2*b.limit {
		t.Fatalf("cache holds %d bytes, bound %d", b.size, b.limit)
	}
	for i := range n {
		must(t, b.SetCurrentKey(key(i)))
		if got, err := v.Get(); err != nil || got != fmt.Sprintf("value-%d", i) {
			t.Fatalf("key %d: %q, %v", i, got, err)
		}
	}
}

type services struct{ b *Backend }

func (s services) StateBackend() *Backend { return s.b }

func TestBackendOf(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	b, err := s.Task(fullScope("t", "c", 0, 1, 8))
	must(t, err)
	tc := &topology.Context{Topology: "t", Component: "c", Task: 3, Services: services{b}}
	if got, err := BackendOf(tc); err != nil || got != b {
		t.Fatalf("BackendOf = %v, %v", got, err)
	}
	tc.Services = nil
	if _, err := BackendOf(tc); !errors.Is(err, ErrNoState) {
		t.Fatalf("BackendOf without state: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeleteScopesAndUseAfterClose(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	bs := tasks(t, s, "c", 2)
	writeCounters(t, bs, seq(300), func(i int) int64 { return 1 })
	if err := s.DeleteScopes([]Scope{bs[1].Scope()}); !errors.Is(err, ErrScopeInUse) {
		t.Fatalf("DeleteScopes of an open scope: %v, want ErrScopeInUse", err)
	}
	closeAll(t, bs)
	must(t, s.DeleteScopes([]Scope{bs[1].Scope()}))
	bs = tasks(t, s, "c", 2)
	got := readCounters(t, bs, 300)
	for i := range 300 {
		_, ok := got[i]
		if inTask1 := bs[1].scope.Groups.Contains(keygroup.Of(key(i), testMaxPar)); ok == inTask1 {
			t.Fatalf("key %d: present %v, in deleted scope %v", i, ok, inTask1)
		}
	}
	// A Backend used after its Store closed fails cleanly.
	must(t, s.Close())
	must(t, bs[0].SetCurrentKey(key(100000)))
	if _, err := NewCounter(bs[0], "n").Add(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Store.Close: %v, want ErrClosed", err)
	}
	if _, err := s.Task(fullScope("t", "d", 0, 1, 8)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Task after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Checkpoint(t.Context(), 1, newStorage(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Checkpoint after Close: %v, want ErrClosed", err)
	}
}

func TestCloseDuringPendingCheckpointDiscardsLaterWrites(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	bs := tasks(t, s, "c", 1)
	writeCounters(t, bs, seq(10), func(i int) int64 { return 1 })
	must(t, bs[0].FlushForCheckpoint(t.Context(), 1))
	must(t, bs[0].SetCurrentKey(key(3)))
	_, err := NewCounter(bs[0], "n").Add(10)
	must(t, err)
	must(t, bs[0].Close())
	s.ReleaseCheckpoint(1)
	got := readCounters(t, tasks(t, s, "c", 1), 10)
	if got[3] != 1 || len(got) != 10 {
		t.Fatalf("after close during a pending checkpoint: key 3 = %d (%d keys); want the barrier's 1", got[3], len(got))
	}
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := Options{CacheSize: -1, MemTableSize: 1000, BackendCacheBytes: -5, Retain: -1}
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad options")
	}
	for _, field := range []string{"CacheSize", "MemTableSize", "BackendCacheBytes", "Retain"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate error %q does not mention %s", err, field)
		}
	}
	if _, err := Open(t.TempDir(), o); err == nil {
		t.Fatal("Open accepted bad options")
	}
	var d Options
	d.EnsureDefaults()
	if d.FS == nil || d.Logger == nil || d.CacheSize != defaultCacheSize || d.Retain != defaultRetain || d.Validate() != nil {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestAppendRecordKeyMatchesTheGroupingEncoding(t *testing.T) {
	got := AppendRecordKey(nil, "user", int32(7), true)
	want := keygroup.AppendKey(keygroup.AppendKey(keygroup.AppendKey(nil, "user"), int64(7)), true)
	if string(got) != string(want) {
		t.Fatalf("AppendRecordKey = %q, want %q", got, want)
	}
}

func TestDirSpaceNamespaces(t *testing.T) {
	root := t.TempDir()
	sp := NewDirSpace(root)
	a, err := sp.Namespace(t.Context(), "worker-0")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PutManifest(t.Context(), 3, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	b, err := sp.Namespace(t.Context(), "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := b.ListManifests(t.Context()); err != nil || len(ids) != 0 {
		t.Fatalf("worker-1 manifests = %v, %v; want none (namespaces are separate)", ids, err)
	}
	again, err := sp.Namespace(t.Context(), "worker-0")
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := again.ListManifests(t.Context()); err != nil || len(ids) != 1 || ids[0] != 3 {
		t.Fatalf("worker-0 reopened: manifests = %v, %v; want [3]", ids, err)
	}
	for _, bad := range []string{"", "a/b", "..", "x y"} {
		if _, err := sp.Namespace(t.Context(), bad); err == nil {
			t.Errorf("Namespace(%q) = nil error, want invalid", bad)
		}
	}
}
