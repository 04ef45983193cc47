package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/gale-stream/gale/bolts/kafkasink"
	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// The crash test's input: crashRecords records over crashUsers users, each
// with an amount; its ground truth is the count and the sum of amounts per
// user.
const (
	crashRecords    = 20000
	crashKills      = 3
	crashUsers      = 50
	crashDirEnv     = "GALE_KAFKA_CRASH_DIR"
	crashBrokersEnv = "GALE_KAFKA_CRASH_BROKERS"
)

func crashAmount(i int) int64 { return int64(i%7 + 1) }

// crashTotals is what the child writes when it finishes cleanly.
type crashTotals struct {
	Count map[string]int64 `json:"count"`
	Sum   map[string]int64 `json:"sum"`
}

// runKafkaCrashChild runs the topology — Kafka events → parse → keyed count
// and sum → Kafka sink — with its state in dir, until every record is
// covered by a complete checkpoint (the committed lag is 0), then stops it
// gracefully and writes the keyed totals to dir/result.json.
func runKafkaCrashChild(dir, brokers string) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	totals := &crashTotals{Count: map[string]int64{}, Sum: map[string]int64{}}
	var mu sync.Mutex
	b := topology.NewBuilder("kafka-crash")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 100 * time.Millisecond})
	b.SetSpout("events", kafkaspout.New(kafkaspout.Config{
		Brokers: strings.Split(brokers, ","), Topics: []string{"events"}, Start: kafkaspout.Earliest,
		ValueDecoder: kafkaspout.JSON, LagInterval: 100 * time.Millisecond,
	}), 2)
	b.SetBolt("parse", topology.BasicFunc(func(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
		v, _ := t.Get("value")
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("value is %T", v)
		}
		id := fmt.Sprintf("%s/%d/%d", t.String("topic"), t.Value(3), t.Int64("offset"))
		out.Emit(topology.Values{m["user"], int64(m["amount"].(float64)), id})
		return nil
	}).Factory(), 2).ShuffleFrom("events").Output("user", "amount", "id")
	b.SetBolt("sum", func() topology.Bolt {
		return &sumBolt{totals: totals, mu: &mu}
	}, 2).FieldsFrom("parse", "user").Output("user", "count", "sum", "id")
	b.SetBolt("sink", kafkasink.New(kafkasink.Config{
		Brokers: strings.Split(brokers, ","), Topic: "totals",
		Map: func(t topology.Tuple) (kafkasink.Message, error) {
			return kafkasink.Message{Key: []byte(t.String("user")), Value: []byte(t.String("id"))}, nil
		},
		ID: func(t topology.Tuple) []byte { return []byte(t.String("id")) },
	}), 1).ShuffleFrom("sum").Tick(50 * time.Millisecond)
	topo, err := b.Build()
	if err != nil {
		logger.Error("build", "err", err)
		return 2
	}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runtime.Run(ctx, topo, runtime.Options{Logger: logger, Registerer: reg, StateDir: dir})
	}()
	client := &kafka.Client{Addr: kafka.TCP(strings.Split(brokers, ",")...)}
	for !committedAll(ctx, client) {
		select {
		case err := <-done:
			logger.Error("run ended early", "err", err)
			return 1
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		logger.Error("run", "err", err)
		return 1
	}
	mu.Lock()
	defer mu.Unlock()
	out, _ := json.Marshal(totals)
	if err := os.WriteFile(filepath.Join(dir, "result.json"), out, 0o644); err != nil {
		return 1
	}
	return 0
}

// committedAll reports whether the topology's consumer group has committed
// the end of every partition. The spout commits at checkpoint completion, so
// then every record is covered by a complete checkpoint.
func committedAll(ctx context.Context, c *kafka.Client) bool {
	offs, ok := committedOffsets(ctx, c)
	if !ok {
		return false
	}
	for _, off := range offs {
		if off != crashRecords/4 {
			return false
		}
	}
	return true
}

// committedOffsets returns the group's committed offset of each of the 4
// partitions (-1: none yet); ok is false when the broker did not answer.
func committedOffsets(ctx context.Context, c *kafka.Client) (offs [4]int64, ok bool) {
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: "gale-kafka-crash",
		Topics:  map[string][]int{"events": {0, 1, 2, 3}},
	})
	if err != nil || resp.Error != nil {
		return offs, false
	}
	parts := resp.Topics["events"]
	if len(parts) != 4 {
		return offs, false
	}
	for _, p := range parts {
		if p.Partition < 0 || p.Partition >= 4 || p.Error != nil {
			return offs, false
		}
		offs[p.Partition] = p.CommittedOffset
	}
	return offs, true
}

// committedTotal is the number of records the group's commits cover: the
// records of complete checkpoints.
func committedTotal(ctx context.Context, c *kafka.Client) int64 {
	offs, _ := committedOffsets(ctx, c)
	var n int64
	for _, off := range offs {
		n += max(off, 0)
	}
	return n
}

// sumBolt keeps a count and a sum of amounts per user in keyed state (the
// runtime binds the key from the fields grouping), and emits the totals.
type sumBolt struct {
	tc         *topology.Context
	count, sum *state.Counter
	totals     *crashTotals
	mu         *sync.Mutex
	seen       int
}

func (s *sumBolt) Prepare(_ context.Context, tc *topology.Context) error {
	s.tc = tc
	be, err := state.BackendOf(tc)
	if err != nil {
		return err
	}
	s.count, s.sum = state.NewCounter(be, "count"), state.NewCounter(be, "sum")
	return nil
}

func (s *sumBolt) Execute(_ context.Context, t topology.Tuple, out topology.Emitter) error {
	// Slow the pipeline to about 4,000 tuples a second per task, so that the
	// kills land mid-stream.
	if s.seen++; s.seen%4 == 0 {
		time.Sleep(time.Millisecond)
	}
	n, err := s.count.Add(1)
	if err != nil {
		return err
	}
	sum, err := s.sum.Add(t.Int64("amount"))
	if err != nil {
		return err
	}
	out.Emit(topology.Values{t.String("user"), n, sum, t.String("id")}, t)
	out.Ack(t)
	return nil
}

func (s *sumBolt) Cleanup() error {
	be, err := state.BackendOf(s.tc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for u := range crashUsers {
		user := fmt.Sprintf("user-%d", u)
		if be.SetCurrentKey(keygroup.AppendKey(nil, user)) != nil {
			continue // another task's key
		}
		n, err := s.count.Get()
		if err != nil {
			return err
		}
		sum, err := s.sum.Get()
		if err != nil {
			return err
		}
		s.totals.Count[user], s.totals.Sum[user] = n, sum
	}
	return nil
}

// TestExactlyOnceKafkaUnderCrashes runs a Kafka-to-Kafka exactly-once
// topology in a child process, kills it with SIGKILL three times at random
// moments, restarts it each time from its state directory, and lets the last
// run finish: the keyed count and sum per user must equal the ground truth
// exactly, and every input record must have reached the sink at least once
// (the sink is at-least-once; consumers drop duplicates by the gale-id
// header).
func TestExactlyOnceKafkaUnderCrashes(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"events": 4, "totals": 1}})
	var recs []kafkatest.Record
	wantCount, wantSum := map[string]int64{}, map[string]int64{}
	for i := range crashRecords {
		user := fmt.Sprintf("user-%d", i%crashUsers)
		v, _ := json.Marshal(map[string]any{"user": user, "amount": crashAmount(i)})
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % 4), Key: []byte(user), Value: v})
		wantCount[user]++
		wantSum[user] += crashAmount(i)
	}
	if err := kc.Produce(t.Context(), recs...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashBrokersEnv+"="+strings.Join(kc.Addrs(), ","))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// Half the kills land at a random moment of the run, often before its
	// first checkpoint completes (a run killed while it takes its first
	// checkpoint leaves state no checkpoint covers); the other half land
	// shortly after a checkpoint of the run completed, so that the next run
	// restores state and positions the run itself wrote.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(kc.Addrs()...), Transport: tr}
	for kill := range crashKills {
		before := committedTotal(t.Context(), client)
		cmd := start()
		began := time.Now()
		mode := "at random"
		wait := time.Duration(200+rng.IntN(800)) * time.Millisecond
		if rng.IntN(2) == 0 {
			mode = "after a checkpoint"
			for time.Since(began) < 10*time.Second && committedTotal(t.Context(), client) <= before {
				time.Sleep(5 * time.Millisecond)
			}
			wait = time.Since(began) + time.Duration(rng.IntN(200))*time.Millisecond
		}
		time.Sleep(time.Until(began.Add(wait)))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		t.Logf("kill %d %s, after %v (%d of %d records committed before the run, %d after): %v",
			kill+1, mode, wait.Round(time.Millisecond), before, crashRecords, committedTotal(t.Context(), client), err)
		if _, statErr := os.Stat(filepath.Join(dir, "result.json")); statErr == nil {
			t.Fatalf("the child finished before kill %d; the test needs a longer input", kill+1)
		}
	}
	cmd := start()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("final run: %v", err)
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-errc
		t.Fatal("final run did not finish within 2 minutes")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got crashTotals
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for user, n := range wantCount {
		if got.Count[user] != n || got.Sum[user] != wantSum[user] {
			t.Errorf("%s: count %d sum %d, want %d and %d", user, got.Count[user], got.Sum[user], n, wantSum[user])
		}
	}
	out, err := kc.Consume(t.Context(), "totals")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	total := 0
	for _, rs := range out {
		for _, r := range rs {
			ids[string(r.Value)] = true
			total++
		}
	}
	if len(ids) != crashRecords {
		t.Errorf("the sink wrote outputs for %d distinct input records, want every one of %d", len(ids), crashRecords)
	}
	t.Logf("the sink wrote %d records for %d inputs (%d duplicates from replays)", total, crashRecords, total-crashRecords)
}
