package state

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"
)

// TestBackendMatchesModel runs random sequences of state operations, flushes,
// checkpoints and restores against a Backend with a tiny cache (so eviction
// and overflow flushes happen all the time) and checks every read against a
// plain map model. After a restore, the model rolls back to the checkpoint.
func TestBackendMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		dir := "/state"
		s, err := Open(dir, Options{FS: vfs.NewMem(), Logger: quiet, CacheSize: 1 << 20, MemTableSize: 1 << 20,
			BackendCacheBytes: rapid.IntRange(200, 4000).Draw(rt, "cacheBytes")})
		if err != nil {
			rt.Fatal(err)
		}
		defer s.Close()
		st, err := NewDirStorage(t.TempDir())
		if err != nil {
			rt.Fatal(err)
		}
		scope := fullScope("t", "c", 0, 1, 16)
		b, err := s.Task(scope)
		if err != nil {
			rt.Fatal(err)
		}
		type model struct {
			values   map[int]string
			maps     map[int]map[string]int
			counters map[int]int64
			lists    map[int][]int
		}
		cur := model{map[int]string{}, map[int]map[string]int{}, map[int]int64{}, map[int][]int{}}
		clone := func(m model) model {
			c := model{maps.Clone(m.values), map[int]map[string]int{}, maps.Clone(m.counters), map[int][]int{}}
			for k, v := range m.lists {
				c.lists[k] = slices.Clone(v)
			}
			for k, v := range m.maps {
				c.maps[k] = maps.Clone(v)
			}
			return c
		}
		var checkpoints []model // index = checkpoint id - 1
		var v *Value[string]
		var mp *Map[string, int]
		var cnt *Counter
		var lst *List[int]
		handles := func() {
			v, mp = NewValue[string](b, "v"), NewMap[string, int](b, "m")
			cnt, lst = NewCounter(b, "n"), NewList[int](b, "l")
		}
		handles()
		keyGen := rapid.IntRange(0, 30)
		subGen := rapid.SampledFrom([]string{"a", "b", "c", "d\x00"})

		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for range steps {
			k := keyGen.Draw(rt, "key")
			if err := b.SetCurrentKey(key(k)); err != nil {
				rt.Fatal(err)
			}
			switch op := rapid.IntRange(0, 12).Draw(rt, "op"); op {
			case 9:
				n := rapid.Int64Range(-3, 3).Draw(rt, "add")
				if _, err := cnt.Add(n); err != nil {
					rt.Fatal(err)
				}
				cur.counters[k] += n
			case 10:
				n := rapid.IntRange(0, 1000).Draw(rt, "append")
				if err := lst.Append(n); err != nil {
					rt.Fatal(err)
				}
				cur.lists[k] = append(cur.lists[k], n)
			case 11:
				if err := lst.Clear(); err != nil {
					rt.Fatal(err)
				}
				delete(cur.lists, k)
			case 0, 1:
				val := rapid.StringN(0, 40, -1).Draw(rt, "value")
				if err := v.Set(val); err != nil {
					rt.Fatal(err)
				}
				cur.values[k] = val
			case 2:
				if err := v.Clear(); err != nil {
					rt.Fatal(err)
				}
				delete(cur.values, k)
			case 3, 4:
				sub, n := subGen.Draw(rt, "sub"), rapid.IntRange(-5, 5).Draw(rt, "n")
				if err := mp.Put(sub, n); err != nil {
					rt.Fatal(err)
				}
				if cur.maps[k] == nil {
					cur.maps[k] = map[string]int{}
				}
				cur.maps[k][sub] = n
			case 5:
				sub := subGen.Draw(rt, "sub")
				if err := mp.Delete(sub); err != nil {
					rt.Fatal(err)
				}
				delete(cur.maps[k], sub)
			case 6:
				if err := b.Flush(); err != nil {
					rt.Fatal(err)
				}
			case 7:
				id := uint64(len(checkpoints) + 1)
				if err := b.FlushForCheckpoint(ctx, id); err != nil {
					rt.Fatal(err)
				}
				if _, err := s.Checkpoint(ctx, id, st); err != nil {
					rt.Fatal(err)
				}
				checkpoints = append(checkpoints, clone(cur))
			case 8:
				if len(checkpoints) == 0 {
					continue
				}
				id := rapid.IntRange(1, len(checkpoints)).Draw(rt, "restore")
				if id <= len(checkpoints)-s.opts.Retain {
					id = len(checkpoints) // older ones are deleted by retention
				}
				if err := b.Close(); err != nil {
					rt.Fatal(err)
				}
				if err := s.Restore(ctx, st, uint64(id), []Scope{scope}); err != nil {
					rt.Fatal(err)
				}
				if b, err = s.Task(scope); err != nil {
					rt.Fatal(err)
				}
				handles()
				cur = clone(checkpoints[id-1])
				if err := b.SetCurrentKey(key(k)); err != nil {
					rt.Fatal(err)
				}
			}
			// Check the current key after every step.
			got, err := v.Get()
			want, ok := cur.values[k]
			if ok != (err == nil) || (ok && got != want) || (err != nil && !errors.Is(err, ErrNotFound)) {
				rt.Fatalf("key %d value: got %q, %v; want %q (present %v)", k, got, err, want, ok)
			}
			if n, err := cnt.Get(); err != nil || n != cur.counters[k] {
				rt.Fatalf("key %d counter: got %d, %v; want %d", k, n, err, cur.counters[k])
			}
			if l, err := lst.Get(); err != nil || !slices.Equal(l, cur.lists[k]) {
				rt.Fatalf("key %d list: got %v, %v; want %v", k, l, err, cur.lists[k])
			}
			entries := map[string]int{}
			var order []string
			if err := mp.Iterate(func(sk string, sv int) bool {
				entries[sk] = sv
				order = append(order, sk)
				return true
			}); err != nil {
				rt.Fatal(err)
			}
			if !maps.Equal(entries, cur.maps[k]) && !(len(entries) == 0 && len(cur.maps[k]) == 0) {
				rt.Fatalf("key %d map: got %v, want %v", k, entries, cur.maps[k])
			}
			if len(order) != len(entries) || !slices.IsSorted(order) {
				rt.Fatalf("key %d map iteration order %q: duplicates or unsorted", k, order)
			}
		}
	})
}
