package kafkaspout

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

// TestOrderPerPartition: every record of every partition reaches the spout,
// once, in offset order per partition, with all fields set.
func TestOrderPerPartition(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 4}})
	const n = 300
	if err := c.ProduceN(ctx, "t", 4, n, 20); err != nil {
		t.Fatal(err)
	}
	if err := c.Produce(ctx, kafkatest.Record{Topic: "t", Partition: 2, Key: []byte("hk"), Value: []byte("hv"), Headers: map[string]string{"h": "x"}, Time: time.UnixMilli(1_700_000_000_123)}); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(c, "t")
	cfg.KeyDecoder = String
	s := openSpout(t, cfg, testContext("order", 0, 1, topology.AtLeastOnce, 100))
	next := map[int32]int64{}
	total := 0
	var last emitted
	pump(t, []*Spout{s}, 20*time.Second, func(s *Spout, e emitted) {
		p, off := e.vals[3].(int32), e.vals[4].(int64)
		if off != next[p] {
			t.Fatalf("partition %d: got offset %d, want %d", p, off, next[p])
		}
		if e.vals[2] != "t" {
			t.Fatalf("topic field %v", e.vals[2])
		}
		id := e.id.(MessageID)
		if id != (MessageID{"t", p, off}) {
			t.Fatalf("message id %+v for %s", id, rid(e))
		}
		if off < n {
			if want := fmt.Sprintf("%d-%d", p, off); !strings.HasPrefix(string(e.vals[1].([]byte)), want) {
				t.Fatalf("%s: value %q, want prefix %q", rid(e), e.vals[1], want)
			}
			if want := fmt.Sprintf("k%d", off); e.vals[0] != want {
				t.Fatalf("%s: key %v, want %q", rid(e), e.vals[0], want)
			}
		}
		next[p]++
		total++
		if p == 2 && off == n {
			last = e
		}
		s.Ack(e.id)
	}, func() bool { return total == 4*n+1 })
	if last.vals[0] != "hk" || string(last.vals[1].([]byte)) != "hv" || last.vals[5] != int64(1_700_000_000_123) {
		t.Fatalf("last record fields: %v", last.vals)
	}
	if hs := last.vals[6].(map[string][]byte); string(hs["h"]) != "x" {
		t.Fatalf("headers %v", hs)
	}
	// The commit reaches the broker.
	waitFor(t, 5*time.Second, "commits", func() bool {
		_ = s.Next(ctx, &recorder{})
		com, err := c.Committed(ctx, "gale-order", "t")
		return err == nil && com[0] == n && com[1] == n && com[2] == n+1 && com[3] == n
	})
}

// TestPartitionsSplitOverTasks: three tasks read a 7-partition topic; every
// record is read by exactly one task and the partitions split evenly.
func TestPartitionsSplitOverTasks(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 7}})
	const n = 50
	if err := c.ProduceN(ctx, "t", 7, n, 10); err != nil {
		t.Fatal(err)
	}
	var spouts []*Spout
	for i := range 3 {
		spouts = append(spouts, openSpout(t, fastConfig(c, "t"), testContext("split", i, 3, topology.AtLeastOnce, 1000)))
	}
	seen := map[string]*Spout{}
	parts := map[*Spout]map[int32]bool{}
	pump(t, spouts, 20*time.Second, func(s *Spout, e emitted) {
		if prev, dup := seen[rid(e)]; dup {
			t.Fatalf("%s read twice (tasks %p and %p)", rid(e), prev, s)
		}
		seen[rid(e)] = s
		if parts[s] == nil {
			parts[s] = map[int32]bool{}
		}
		parts[s][e.vals[3].(int32)] = true
		s.Ack(e.id)
	}, func() bool { return len(seen) == 7*n })
	owners := map[int32]int{}
	for _, ps := range parts {
		if len(ps) < 2 || len(ps) > 3 {
			t.Fatalf("a task read %d partitions, want 2 or 3", len(ps))
		}
		for p := range ps {
			owners[p]++
		}
	}
	for p := range int32(7) {
		if owners[p] != 1 {
			t.Fatalf("partition %d read by %d tasks", p, owners[p])
		}
	}
}

// TestAtLeastOnceRandomFailures fails a random 10% of tuples: every record is
// eventually acked, and the group's committed offset (polled from the broker
// during the run) never passes an offset that was not yet acked.
func TestAtLeastOnceRandomFailures(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 3}})
	const n = 1000
	if err := c.ProduceN(ctx, "t", 3, n, 10); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(c, "t")
	cfg.CommitInterval = 5 * time.Millisecond
	cfg.RetryBackoff, cfg.MaxRetryBackoff = time.Millisecond, 5*time.Millisecond
	s := openSpout(t, cfg, testContext("alo", 0, 1, topology.AtLeastOnce, 50))

	// lowestUnacked[p] is the lowest offset of p not acked yet, shared with
	// the poller, which checks committed offsets against it.
	var mu sync.Mutex
	acked := map[int32][]bool{0: make([]bool, n), 1: make([]bool, n), 2: make([]bool, n)}
	lowest := map[int32]int64{}
	var violations []string
	var polls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			com, err := c.Committed(ctx, "gale-alo", "t")
			if err != nil {
				continue
			}
			polls.Add(1)
			mu.Lock()
			for p, off := range com {
				// The lowest un-acked offset only grows, so reading it after
				// the commit is read is conservative.
				if off > lowest[p] {
					violations = append(violations, fmt.Sprintf("partition %d committed %d while %d un-acked", p, off, lowest[p]))
				}
			}
			mu.Unlock()
		}
	})
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 7))
	done, fails := 0, 0
	var inflight []emitted
	pump(t, []*Spout{s}, 40*time.Second, func(s *Spout, e emitted) {
		inflight = append(inflight, e)
		// Complete tuples out of order: ack or fail a random one in flight.
		for len(inflight) > 20 || (len(inflight) > 0 && r.IntN(4) == 0) {
			i := r.IntN(len(inflight))
			x := inflight[i]
			inflight = append(inflight[:i], inflight[i+1:]...)
			if r.IntN(10) == 0 {
				fails++
				s.Fail(x.id)
				continue
			}
			id := x.id.(MessageID)
			mu.Lock()
			if acked[id.Partition][id.Offset] {
				mu.Unlock()
				t.Fatalf("seed %d: %s acked twice", seed, rid(x))
			}
			acked[id.Partition][id.Offset] = true
			for lowest[id.Partition] < n && acked[id.Partition][lowest[id.Partition]] {
				lowest[id.Partition]++
			}
			mu.Unlock()
			s.Ack(x.id)
			done++
		}
	}, func() bool {
		if done < 3*n && len(inflight) > 0 && s.inflight == len(inflight) {
			// Nothing more will be emitted until something completes.
			x := inflight[0]
			inflight = inflight[1:]
			id := x.id.(MessageID)
			mu.Lock()
			acked[id.Partition][id.Offset] = true
			for lowest[id.Partition] < n && acked[id.Partition][lowest[id.Partition]] {
				lowest[id.Partition]++
			}
			mu.Unlock()
			s.Ack(x.id)
			done++
		}
		return done == 3*n
	})
	waitFor(t, 5*time.Second, "final commits", func() bool {
		_ = s.Next(ctx, &recorder{})
		com, err := c.Committed(ctx, "gale-alo", "t")
		return err == nil && com[0] == n && com[1] == n && com[2] == n
	})
	close(stop)
	wg.Wait()
	if fails == 0 || polls.Load() < 10 {
		t.Fatalf("seed %d: test too weak: %d failures, %d polls", seed, fails, polls.Load())
	}
	if len(violations) > 0 {
		t.Fatalf("seed %d: %d violations, first: %s", seed, len(violations), violations[0])
	}
	t.Logf("seed %d: %d records, %d failures replayed, %d commit polls", seed, 3*n, fails, polls.Load())
}

// TestRestartResumesFromCommitted: a second spout instance (a restarted
// task) resumes where the first one committed, without gaps.
func TestRestartResumesFromCommitted(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 2}})
	if err := c.ProduceN(ctx, "t", 2, 100, 10); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(c, "t")
	tc := testContext("restart", 0, 1, topology.AtLeastOnce, 1000)
	s1 := New(cfg)().(*Spout)
	if err := s1.Open(ctx, tc); err != nil {
		t.Fatal(err)
	}
	// Ack the first 30 of each partition; leave 30..39 un-acked.
	got := map[int32]int{}
	pump(t, []*Spout{s1}, 10*time.Second, func(s *Spout, e emitted) {
		p, off := e.vals[3].(int32), e.vals[4].(int64)
		if off < 30 {
			s.Ack(e.id)
		}
		got[p]++
	}, func() bool { return got[0] >= 40 && got[1] >= 40 })
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	com, err := c.Committed(ctx, "gale-restart", "t")
	if err != nil {
		t.Fatal(err)
	}
	if com[0] != 30 || com[1] != 30 {
		t.Fatalf("committed after close %v, want 30 for both partitions", com)
	}
	s2 := openSpout(t, cfg, tc)
	first := map[int32]int64{0: -1, 1: -1}
	pump(t, []*Spout{s2}, 10*time.Second, func(s *Spout, e emitted) {
		p, off := e.vals[3].(int32), e.vals[4].(int64)
		if first[p] < 0 {
			first[p] = off
		}
		s.Ack(e.id)
	}, func() bool { return first[0] >= 0 && first[1] >= 0 })
	if first[0] != 30 || first[1] != 30 {
		t.Fatalf("restarted task began at %v, want 30 for both partitions", first)
	}
}

// TestStartPositions covers earliest, latest, a timestamp, and committed
// (with and without a commit).
func TestStartPositions(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}})
	base := time.UnixMilli(1_800_000_000_000)
	var recs []kafkatest.Record
	for i := range 10 {
		recs = append(recs, kafkatest.Record{Topic: "t", Value: []byte{byte(i)}, Time: base.Add(time.Duration(i) * time.Second)})
	}
	if err := c.Produce(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	// A commit at 7 for group "g-committed".
	{
		cfg := fastConfig(c, "t")
		cfg.Group = "g-committed"
		s := openSpout(t, cfg, testContext("x", 0, 1, topology.AtLeastOnce, 1000))
		if err := s.commitOffsets(map[topicPartition]int64{{"t", 0}: 7}); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	}
	tests := []struct {
		name  string
		start StartPosition
		group string
		first int64 // first offset emitted; -1: nothing until a new record
	}{
		{"earliest", Earliest, "g1", 0},
		{"committed without commit falls back to earliest", Committed, "g2", 0},
		{"committed", Committed, "g-committed", 7},
		{"earliest ignores commits", Earliest, "g-committed", 0},
		{"time", AtTime(base.Add(4 * time.Second)), "g3", 4},
		{"time between records", AtTime(base.Add(4500 * time.Millisecond)), "g3", 5},
		{"time after all", AtTime(base.Add(time.Hour)), "g3", -1},
		{"latest", Latest, "g4", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fastConfig(c, "t")
			cfg.Start, cfg.Group = tt.start, tt.group
			s := openSpout(t, cfg, testContext("x", 0, 1, topology.AtLeastOnce, 1000))
			want := tt.first
			if want < 0 {
				// Wait until the fetcher resolved its start, then produce.
				waitFor(t, 5*time.Second, "start resolved", func() bool { return s.order[0].sh.start.Load() >= 0 })
				hw, _ := c.HighWatermarks(ctx, "t")
				want = hw[0]
				if err := c.Produce(ctx, kafkatest.Record{Topic: "t", Value: []byte("new"), Time: base.Add(2 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			got := int64(-1)
			pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) {
				if got < 0 {
					got = e.vals[4].(int64)
				}
				s.Ack(e.id)
			}, func() bool { return got >= 0 })
			if got != want {
				t.Fatalf("first offset %d, want %d", got, want)
			}
		})
	}
}
