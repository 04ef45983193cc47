package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gale-stream/gale/internal/keygroup"
)

const (
	benchKeys      = 100_000 // distinct keys
	benchBatch     = 1_000   // updates per b.Loop iteration (and per Pebble batch in the baseline)
	benchChkptEach = 100_000 // updates between flushes in the backend case: a 1 s checkpoint interval
	benchMaxPar    = 128
)

// zipfWorkload is a fixed sequence of key indices drawn from a Zipf
// distribution over benchKeys keys (seeded, so every run and every case sees
// the same keys), plus the keys' canonical encodings.
type zipfWorkload struct {
	keys  [][]byte
	draws []uint32
}

func newZipfWorkload() *zipfWorkload {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, benchKeys-1)
	w := &zipfWorkload{keys: make([][]byte, benchKeys), draws: make([]uint32, 1<<20)}
	for i := range w.keys {
		w.keys[i] = keygroup.AppendKey(nil, fmt.Sprintf("user-%d", i))
	}
	for i := range w.draws {
		w.draws[i] = uint32(z.Uint64())
	}
	return w
}

// keyedUpdater increments a counter per key. One implementation per way of
// keeping keyed state; the runtime's engine case drives a real topology the
// same way (one counter increment per tuple, keys from zipfWorkload).
type keyedUpdater interface {
	increment(key []byte) error
	// endBatch is called after every benchBatch increments.
	endBatch() error
	close() error
}

// BenchmarkKeyedState measures read-modify-write counter updates: a Get and
// a Set per update, 100k keys drawn from a Zipf distribution.
//
//   - pebble-baseline: raw Pebble with default options, an indexed batch of
//     1,000 updates committed without sync.
//   - backend: a Backend and a Counter; the write-back cache is flushed every
//     100k updates, as a 1 s checkpoint interval would.
//   - backend+checkpoint: the same, and every 100k updates a real checkpoint
//     (FlushForCheckpoint, then Store.Checkpoint to a DirStorage) on the
//     benchmark goroutine, so its whole cost is counted.
func BenchmarkKeyedState(b *testing.B) {
	w := newZipfWorkload()
	cases := []struct {
		name string
		open func(b *testing.B) keyedUpdater
	}{
		{"pebble-baseline", openPebbleBaseline},
		{"backend", openBackendUpdater},
		{"backend+checkpoint", openCheckpointingUpdater},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			u := tc.open(b)
			defer func() { must(b, u.close()) }()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for range benchBatch {
					if err := u.increment(w.keys[w.draws[n&(len(w.draws)-1)]]); err != nil {
						b.Fatal(err)
					}
					n++
				}
				if err := u.endBatch(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}

type pebbleBaseline struct {
	db    *pebble.DB
	batch *pebble.Batch
	buf   [8]byte
}

func openPebbleBaseline(b *testing.B) keyedUpdater {
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: pebbleLogger{quiet}})
	must(b, err)
	return &pebbleBaseline{db: db, batch: db.NewIndexedBatch()}
}

func (p *pebbleBaseline) increment(key []byte) error {
	var n uint64
	v, closer, err := p.batch.Get(key)
	switch {
	case err == nil:
		n = binary.BigEndian.Uint64(v)
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return err
	}
	binary.BigEndian.PutUint64(p.buf[:], n+1)
	return p.batch.Set(key, p.buf[:], nil)
}

func (p *pebbleBaseline) endBatch() error {
	if err := p.batch.Commit(pebble.NoSync); err != nil {
		return err
	}
	_ = p.batch.Close()
	p.batch = p.db.NewIndexedBatch()
	return nil
}

func (p *pebbleBaseline) close() error {
	_ = p.batch.Close()
	return p.db.Close()
}

type backendUpdater struct {
	s       *Store
	b       *Backend
	c       *Counter
	pending int
}

func openBackendUpdater(b *testing.B) keyedUpdater {
	s, err := Open(b.TempDir(), Options{Logger: quiet})
	must(b, err)
	be, err := s.Task(Scope{Topology: "bench", Component: "count", MaxParallelism: benchMaxPar,
		Groups: keygroup.Range{Start: 0, End: benchMaxPar}})
	must(b, err)
	return &backendUpdater{s: s, b: be, c: NewCounter(be, "n")}
}

func (u *backendUpdater) increment(key []byte) error {
	if err := u.b.SetCurrentKey(key); err != nil {
		return err
	}
	_, err := u.c.Add(1)
	return err
}

func (u *backendUpdater) endBatch() error {
	u.pending += benchBatch
	if u.pending < benchChkptEach {
		return nil
	}
	u.pending = 0
	return u.b.Flush()
}

func (u *backendUpdater) close() error {
	return errors.Join(u.b.Close(), u.s.Close())
}

type checkpointingUpdater struct {
	*backendUpdater
	storage *DirStorage
	id      uint64
}

func openCheckpointingUpdater(b *testing.B) keyedUpdater {
	st, err := NewDirStorage(b.TempDir())
	must(b, err)
	return &checkpointingUpdater{backendUpdater: openBackendUpdater(b).(*backendUpdater), storage: st}
}

func (u *checkpointingUpdater) endBatch() error {
	u.pending += benchBatch
	if u.pending < benchChkptEach {
		return nil
	}
	u.pending = 0
	u.id++
	ctx := context.Background()
	if err := u.b.FlushForCheckpoint(ctx, u.id); err != nil {
		return err
	}
	_, err := u.s.Checkpoint(ctx, u.id, u.storage)
	return err
}

// BenchmarkCheckpoint checkpoints and restores a store of 1 million counter
// keys: a full checkpoint to empty storage, an incremental one after 1% of
// the keys changed, and a restore into an empty store. Each reports the
// bytes it copied per operation.
func BenchmarkCheckpoint(b *testing.B) {
	const nKeys, changed = 1_000_000, 10_000
	s, err := Open(b.TempDir(), Options{Logger: quiet})
	must(b, err)
	defer s.Close()
	scope := Scope{Topology: "bench", Component: "count", MaxParallelism: benchMaxPar,
		Groups: keygroup.Range{Start: 0, End: benchMaxPar}}
	be, err := s.Task(scope)
	must(b, err)
	c := NewCounter(be, "n")
	keys := make([][]byte, nKeys)
	for i := range keys {
		keys[i] = keygroup.AppendKey(nil, int64(i))
		must(b, be.SetCurrentKey(keys[i]))
		_, err := c.Add(int64(i))
		must(b, err)
	}
	must(b, be.Flush())
	var id uint64

	b.Run("full", func(b *testing.B) {
		var total int64
		for b.Loop() {
			b.StopTimer()
			st, err := NewDirStorage(b.TempDir())
			must(b, err)
			id++
			b.StartTimer()
			m, err := s.Checkpoint(b.Context(), id, st)
			must(b, err)
			total += m.UploadedBytes
		}
		b.ReportMetric(float64(total)/float64(b.N), "uploaded-B/op")
	})

	st, err := NewDirStorage(b.TempDir())
	must(b, err)
	id++
	_, err = s.Checkpoint(b.Context(), id, st)
	must(b, err)
	r := rand.New(rand.NewPCG(3, 4))
	b.Run("incremental", func(b *testing.B) {
		var uploaded, total int64
		for b.Loop() {
			b.StopTimer()
			for range changed {
				must(b, be.SetCurrentKey(keys[r.IntN(nKeys)]))
				_, err := c.Add(1)
				must(b, err)
			}
			must(b, be.Flush())
			id++
			b.StartTimer()
			m, err := s.Checkpoint(b.Context(), id, st)
			must(b, err)
			uploaded += m.UploadedBytes
			total += m.TotalBytes
		}
		b.ReportMetric(float64(uploaded)/float64(b.N), "uploaded-B/op")
		b.ReportMetric(float64(total)/float64(b.N), "total-B/op")
	})

	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s2, err := Open(b.TempDir(), Options{Logger: quiet})
			must(b, err)
			b.StartTimer()
			must(b, s2.Restore(b.Context(), st, id, []Scope{scope}))
			b.StopTimer()
			must(b, s2.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(nKeys)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}
