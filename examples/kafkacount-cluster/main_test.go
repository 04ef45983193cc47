package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale"
	"github.com/gale-stream/gale/internal/kafkatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCountsEveryWord runs the program's "run" mode in this process against
// a kfake broker: once a checkpoint covers every input record, the output
// topic holds, for every word, each count from 1 to the number of its
// records, and nothing higher. (cluster/daemon's TestFailoverExactlyOnceKafka
// runs the same binary on a cluster and kills a node under it.)
func TestCountsEveryWord(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"in": 3, "out": 2}})
	truth := map[string]int64{}
	var recs []kafkatest.Record
	for i := range 3000 {
		w := fmt.Sprintf("w%d", (i*i)%17)
		truth[w]++
		recs = append(recs, kafkatest.Record{Topic: "in", Partition: int32(i % 3), Value: []byte(w)})
	}
	if err := kc.Produce(t.Context(), recs...); err != nil {
		t.Fatal(err)
	}
	b := Topology(kc.Addrs(), "in", "out", 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var out bytes.Buffer
		done <- gale.Run(ctx, b, []string{"run", "--state-dir", t.TempDir()}, &out, gale.WithLogger(slog.New(slog.DiscardHandler)))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		com, err := kc.Committed(t.Context(), "gale-kafkacount", "in")
		var n int64
		for _, o := range com {
			n += o
		}
		if err == nil && n == int64(len(recs)) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("a checkpoint covers %d of %d records after 30s", n, len(recs))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	parts, err := kc.Consume(t.Context(), "out")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[int64]bool{}
	for _, rs := range parts {
		for _, r := range rs {
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				t.Fatalf("value %q: %v", r.Value, err)
			}
			if seen[string(r.Key)] == nil {
				seen[string(r.Key)] = map[int64]bool{}
			}
			seen[string(r.Key)][n] = true
		}
	}
	if len(seen) != len(truth) {
		t.Errorf("%d words written, %d produced", len(seen), len(truth))
	}
	for w, want := range truth {
		if len(seen[w]) != int(want) {
			t.Errorf("word %q: %d distinct counts written, want %d", w, len(seen[w]), want)
		}
		for n := int64(1); n <= want; n++ {
			if !seen[w][n] {
				t.Errorf("word %q: count %d missing (want 1..%d)", w, n, want)
				break
			}
		}
	}
}
