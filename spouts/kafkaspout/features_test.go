package kafkaspout

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

// gauge returns the value of metric name for topic/partition, and whether
// the series exists.
func gauge(t testing.TB, reg *prometheus.Registry, name, topic string, p int32) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "topic") == topic && label(m, "partition") == strconv.Itoa(int(p)) {
				if m.Gauge != nil {
					return m.Gauge.GetValue(), true
				}
				return m.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestLagMetrics: series exist at 0 before the first record; lag equals the
// broker's high watermark minus the next offset to emit, computed
// independently; and lag, committed lag and lag seconds reach 0 when caught up.
func TestLagMetrics(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 2}})
	reg := prometheus.NewRegistry()
	cfg := fastConfig(c, "t")
	cfg.Registerer = reg
	s := openSpout(t, cfg, testContext("lag", 0, 1, topology.AtLeastOnce, 10))
	for p := range int32(2) {
		for _, name := range []string{"gale_kafka_consumer_lag", "gale_kafka_consumer_committed_lag", "gale_kafka_consumer_lag_seconds", "gale_kafka_consumer_fetched_records_total", "gale_kafka_consumer_fetch_errors_total"} {
			v, ok := gauge(t, reg, name, "t", p)
			if !ok || v != 0 {
				t.Fatalf("before any record: %s{partition=%d} = %v (present %v), want 0", name, p, v, ok)
			}
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}
	const n = 50
	if err := c.ProduceN(ctx, "t", 2, n, 10); err != nil {
		t.Fatal(err)
	}
	// Emit what max pending (10) allows, acking nothing.
	var r recorder
	next := map[int32]int64{}
	waitFor(t, 10*time.Second, "10 tuples", func() bool {
		_ = s.Next(ctx, &r)
		return len(r.tuples) == 10
	})
	first := r.take()
	for _, e := range first {
		next[e.vals[3].(int32)] = e.vals[4].(int64) + 1
	}
	hw, err := c.HighWatermarks(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "lag = high watermark - next offset", func() bool {
		time.Sleep(20 * time.Millisecond)
		_ = s.Next(ctx, &r)
		for p := range int32(2) {
			v, _ := gauge(t, reg, "gale_kafka_consumer_lag", "t", p)
			if v != float64(hw[p]-next[p]) {
				return false
			}
		}
		return true
	})
	if len(r.tuples) != 0 {
		t.Fatalf("emitted %d tuples beyond max pending", len(r.tuples))
	}
	if v, _ := gauge(t, reg, "gale_kafka_consumer_lag_seconds", "t", 0); v <= 0 && next[0] > 0 {
		t.Fatalf("lag seconds %v with records pending", v)
	}
	// Ack everything and drain.
	for _, e := range first {
		s.Ack(e.id)
	}
	total := 10
	pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) { total++; s.Ack(e.id) }, func() bool { return total == 2*n })
	waitFor(t, 5*time.Second, "lag 0", func() bool {
		time.Sleep(20 * time.Millisecond)
		_ = s.Next(ctx, &r)
		for p := range int32(2) {
			for _, name := range []string{"gale_kafka_consumer_lag", "gale_kafka_consumer_committed_lag", "gale_kafka_consumer_lag_seconds"} {
				if v, _ := gauge(t, reg, name, "t", p); v != 0 {
					return false
				}
			}
		}
		return true
	})
	if v, _ := gauge(t, reg, "gale_kafka_consumer_fetched_records_total", "t", 1); v != n {
		t.Fatalf("fetched records of partition 1: %v, want %d", v, n)
	}
	// New records raise the lag while Next is not called at all (as when
	// the topology is backpressured): the refresher lists high watermarks
	// and sets the gauges on its own.
	if err := c.ProduceN(ctx, "t", 2, 7, 10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "lag 7 from the refresh", func() bool {
		time.Sleep(20 * time.Millisecond)
		v, _ := gauge(t, reg, "gale_kafka_consumer_lag", "t", 0)
		return v == 7
	})
	// Commits were timed.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	commits := uint64(0)
	for _, mf := range mfs {
		if mf.GetName() == "gale_kafka_consumer_commit_duration_seconds" {
			for _, m := range mf.GetMetric() {
				commits += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if commits == 0 {
		t.Fatal("no commit latency observed")
	}
	// A second task on the same registerer shares the vectors.
	s2 := openSpout(t, cfg, testContext("lag2", 0, 1, topology.AtLeastOnce, 10))
	if s2.m != s.m {
		t.Fatal("tasks on one registerer do not share metrics")
	}
}

func TestSASL(t *testing.T) {
	users := []kafkatest.User{
		{Mechanism: kafkatest.ScramSHA256, Name: "scram", Password: "s3cret"},
		{Mechanism: kafkatest.Plain, Name: "plain", Password: "pl41n"},
	}
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}, Users: users})
	ctx := t.Context()
	if err := c.ProduceN(ctx, "t", 1, 5, 10); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pl41n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GALE_TEST_SCRAM_PW", "s3cret")
	t.Setenv("GALE_TEST_WRONG_PW", "nope")
	tests := []struct {
		name    string
		sasl    *SASL
		wantErr error
	}{
		{"scram-sha-256 from env", &SASL{Mechanism: MechanismScramSHA256, Username: "scram", PasswordEnv: "GALE_TEST_SCRAM_PW"}, nil},
		{"plain from file", &SASL{Mechanism: MechanismPlain, Username: "plain", PasswordFile: pwFile}, nil},
		{"wrong scram password", &SASL{Mechanism: MechanismScramSHA256, Username: "scram", PasswordEnv: "GALE_TEST_WRONG_PW"}, ErrAuthentication},
		{"wrong plain password", &SASL{Mechanism: MechanismPlain, Username: "plain", PasswordEnv: "GALE_TEST_WRONG_PW"}, ErrAuthentication},
		{"missing env", &SASL{Mechanism: MechanismPlain, Username: "plain", PasswordEnv: "GALE_TEST_UNSET_PW"}, ErrSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fastConfig(c, "t")
			cfg.Security = &Security{SASL: tt.sasl}
			cfg.OpenTimeout = 5 * time.Second
			if tt.wantErr != nil {
				s := New(cfg)().(*Spout)
				start := time.Now()
				err := s.Open(ctx, testContext("sasl", 0, 1, topology.AtLeastOnce, 100))
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open: %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == ErrAuthentication {
					if el := time.Since(start); el > 3*time.Second {
						t.Fatalf("authentication failure took %v to report", el)
					}
					t.Logf("error: %v", err)
				}
				return
			}
			s := openSpout(t, cfg, testContext("sasl-"+tt.sasl.Mechanism, 0, 1, topology.AtLeastOnce, 100))
			got := 0
			pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) { got++; s.Ack(e.id) }, func() bool { return got == 5 })
		})
	}
}

// TestBrokerRestart stops the broker mid-run and starts it again on the same
// port with the same data: no record is lost or repeated, and the errors
// are counted.
func TestBrokerRestart(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 2}, DataDir: t.TempDir()})
	const n = 200
	if err := c.ProduceN(ctx, "t", 2, n, 10); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := fastConfig(c, "t")
	cfg.Registerer = reg
	cfg.FetchMaxBytes = 1000 // small batches, so the outage hits mid-stream
	cfg.RequestTimeout = time.Second
	s := openSpout(t, cfg, testContext("restart", 0, 1, topology.AtLeastOnce, 50))
	next := map[int32]int64{}
	check := func(s *Spout, e emitted) {
		p, off := e.vals[3].(int32), e.vals[4].(int64)
		if off != next[p] {
			t.Fatalf("partition %d: offset %d after %d: a record was lost or repeated", p, off, next[p]-1)
		}
		next[p]++
		s.Ack(e.id)
	}
	pump(t, []*Spout{s}, 10*time.Second, check, func() bool { return next[0]+next[1] >= n/2 })
	c.Down()
	pump(t, []*Spout{s}, 10*time.Second, check, func() bool {
		v, _ := gauge(t, reg, "gale_kafka_consumer_fetch_errors_total", "t", 0)
		w, _ := gauge(t, reg, "gale_kafka_consumer_fetch_errors_total", "t", 1)
		return v+w > 0
	})
	if err := c.Up(); err != nil {
		t.Fatal(err)
	}
	if err := c.ProduceN(ctx, "t", 2, 10, 10); err != nil {
		t.Fatal(err)
	}
	pump(t, []*Spout{s}, 20*time.Second, check, func() bool { return next[0] == n+10 && next[1] == n+10 })
	waitFor(t, 10*time.Second, "commits after restart", func() bool {
		_ = s.Next(ctx, &recorder{})
		com, err := c.Committed(ctx, "gale-restart", "t")
		return err == nil && com[0] == n+10 && com[1] == n+10
	})
}

// TestExactlyOnceCheckpoint: positions go into the snapshot, are committed
// only when the checkpoint completes, and a restore seeks to them.
func TestExactlyOnceCheckpoint(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 2}})
	const n = 40
	if err := c.ProduceN(ctx, "t", 2, n, 10); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(c, "t")
	cfg.MaxEmitPerNext = 5
	tc := testContext("eo", 0, 1, topology.ExactlyOnce, 100)
	s := openSpout(t, cfg, tc)
	emitted := map[int32]int64{}
	count := 0
	drive := func(k int) {
		pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted_) {
			if e.id != nil {
				t.Fatalf("exactly-once tuple with message id %v", e.id)
			}
			emitted[e.vals[3].(int32)] = e.vals[4].(int64) + 1
			count++
		}, func() bool { return count >= k })
	}
	drive(30)
	snap, err := s.Snapshot(1)
	if err != nil {
		t.Fatal(err)
	}
	at1 := map[int32]int64{0: emitted[0], 1: emitted[1]}
	drive(50)
	time.Sleep(100 * time.Millisecond) // several commit intervals
	_ = s.Next(ctx, &recorder{})
	if com, _ := c.Committed(ctx, "gale-eo", "t"); len(com) != 0 {
		t.Fatalf("offsets committed before the checkpoint completed: %v", com)
	}
	s.CheckpointComplete(1)
	com, err := c.Committed(ctx, "gale-eo", "t")
	if err != nil {
		t.Fatal(err)
	}
	if com[0] != at1[0] || com[1] != at1[1] {
		t.Fatalf("committed %v, want the snapshot's positions %v", com, at1)
	}
	// A new task restores the snapshot and continues from it, not from the
	// later positions.
	s2 := openSpout(t, cfg, tc)
	if err := s2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	first := map[int32]int64{0: -1, 1: -1}
	pump(t, []*Spout{s2}, 10*time.Second, func(_ *Spout, e emitted_) {
		if p := e.vals[3].(int32); first[p] < 0 {
			first[p] = e.vals[4].(int64)
		}
	}, func() bool { return first[0] >= 0 && first[1] >= 0 })
	if first[0] != at1[0] || first[1] != at1[1] {
		t.Fatalf("restored task began at %v, want %v", first, at1)
	}
}

type emitted_ = emitted

// TestAtMostOnce: the end of every batch is committed before its records
// are emitted.
func TestAtMostOnce(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}})
	if err := c.ProduceN(ctx, "t", 1, 100, 10); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(c, "t")
	cfg.MaxEmitPerNext = 7
	s := openSpout(t, cfg, testContext("amo", 0, 1, topology.AtMostOnce, 100))
	var r recorder
	got := 0
	for got < 100 {
		waitFor(t, 5*time.Second, "a tuple", func() bool { _ = s.Next(ctx, &r); return len(r.tuples) > 0 })
		ts := r.take()
		last := ts[len(ts)-1].vals[4].(int64)
		com, err := c.Committed(ctx, "gale-amo", "t")
		if err != nil {
			t.Fatal(err)
		}
		if com[0] <= last {
			t.Fatalf("emitted offset %d while committed is %d", last, com[0])
		}
		for _, e := range ts {
			if e.id != nil || e.vals[4].(int64) != int64(got) {
				t.Fatalf("tuple %v (id %v), want offset %d without id", e.vals[4], e.id, got)
			}
			got++
		}
	}
}

// TestFailurePolicies: a record that always fails is replayed MaxRetries
// times, then skipped or sent to the dead-letter topic, and commits move on.
func TestFailurePolicies(t *testing.T) {
	for _, policy := range []FailurePolicy{Skip, DeadLetter} {
		t.Run(strconv.Itoa(int(policy)), func(t *testing.T) {
			ctx := t.Context()
			c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1, "dlq": 1}})
			if err := c.Produce(ctx,
				kafkatest.Record{Topic: "t", Value: []byte("a")},
				kafkatest.Record{Topic: "t", Value: []byte("poison"), Key: []byte("pk"), Headers: map[string]string{"h": "v"}},
				kafkatest.Record{Topic: "t", Value: []byte("c")},
			); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			cfg := fastConfig(c, "t")
			cfg.OnFailure, cfg.MaxRetries, cfg.Registerer = policy, 2, reg
			if policy == DeadLetter {
				cfg.DeadLetterTopic = "dlq"
			}
			s := openSpout(t, cfg, testContext("pol", 0, 1, topology.AtLeastOnce, 100))
			poisonSeen := 0
			pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) {
				if string(e.vals[1].([]byte)) == "poison" {
					poisonSeen++
					s.Fail(e.id)
					return
				}
				s.Ack(e.id)
			}, func() bool {
				cp, _ := s.parts[topicPartition{"t", 0}].tr.commitPoint()
				return cp == 3
			})
			if poisonSeen != 3 {
				t.Fatalf("poison record emitted %d times, want 3 (1 + MaxRetries)", poisonSeen)
			}
			name := map[FailurePolicy]string{Skip: "skip", DeadLetter: "dead-letter"}[policy]
			if v := testutil.ToFloat64(s.m.givenUp.WithLabelValues("pol", "t", "0", name)); v != 1 {
				t.Fatalf("given up counter %v, want 1", v)
			}
			if policy == DeadLetter {
				recs, err := c.Consume(ctx, "dlq")
				if err != nil {
					t.Fatal(err)
				}
				if len(recs[0]) != 1 || string(recs[0][0].Value) != "poison" || string(recs[0][0].Key) != "pk" {
					t.Fatalf("dead-letter topic holds %v", recs)
				}
				hs := map[string]string{}
				for _, h := range recs[0][0].Headers {
					hs[h.Key] = string(h.Value)
				}
				if hs["h"] != "v" || hs["gale-source-topic"] != "t" || hs["gale-source-offset"] != "1" || hs["gale-attempts"] != "3" {
					t.Fatalf("dead-letter headers %v", hs)
				}
			}
		})
	}
}

// TestMaxUncommittedPauses: with the lowest record un-acked, a partition
// emits at most MaxUncommitted records, then resumes when it is acked.
func TestMaxUncommittedPauses(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}})
	if err := c.ProduceN(ctx, "t", 1, 100, 10); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(c, "t")
	cfg.MaxUncommitted = 5
	s := openSpout(t, cfg, testContext("pause", 0, 1, topology.AtLeastOnce, 1000))
	var held any
	got := 0
	pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) {
		got++
		if e.vals[4].(int64) == 0 {
			held = e.id
			return
		}
		s.Ack(e.id)
	}, func() bool { return got >= 5 })
	deadline := time.Now().Add(300 * time.Millisecond)
	var r recorder
	for time.Now().Before(deadline) {
		_ = s.Next(ctx, &r)
		time.Sleep(time.Millisecond)
	}
	if len(r.tuples) != 0 {
		t.Fatalf("paused partition emitted %d more tuples", len(r.tuples))
	}
	s.Ack(held)
	pump(t, []*Spout{s}, 10*time.Second, func(s *Spout, e emitted) { got++; s.Ack(e.id) }, func() bool { return got == 100 })
}

// TestPartitionChanges: partitions added to a topic, and a topic created
// later that matches the pattern, are picked up and split over the tasks.
func TestPartitionChanges(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"ev-a": 2}})
	cfg := fastConfig(c)
	cfg.TopicPattern = regexp.MustCompile(`^ev-`)
	var spouts []*Spout
	for i := range 2 {
		spouts = append(spouts, openSpout(t, cfg, testContext("chg", i, 2, topology.AtLeastOnce, 1000)))
	}
	if err := c.AddPartitions(ctx, "ev-a", 2); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(ctx, "ev-b", 3); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(ctx, "other", 1); err != nil {
		t.Fatal(err)
	}
	// Wait until both tasks own the 7 ev- partitions between them.
	waitFor(t, 10*time.Second, "assignment of 7 partitions", func() bool {
		n := 0
		for _, s := range spouts {
			_ = s.Next(ctx, &recorder{})
			n += len(s.order)
		}
		return n == 7
	})
	if err := c.ProduceN(ctx, "ev-a", 4, 10, 10); err != nil {
		t.Fatal(err)
	}
	if err := c.ProduceN(ctx, "ev-b", 3, 10, 10); err != nil {
		t.Fatal(err)
	}
	if err := c.ProduceN(ctx, "other", 1, 10, 10); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	owner := map[string]*Spout{}
	pump(t, spouts, 10*time.Second, func(s *Spout, e emitted) {
		if e.vals[2] == "other" {
			t.Fatalf("read topic %v, which does not match", e.vals[2])
		}
		if seen[rid(e)] {
			t.Fatalf("%s read twice", rid(e))
		}
		seen[rid(e)] = true
		key := e.vals[2].(string) + "/" + strconv.Itoa(int(e.vals[3].(int32)))
		if o := owner[key]; o != nil && o != s {
			t.Fatalf("partition %s read by two tasks", key)
		}
		owner[key] = s
		s.Ack(e.id)
	}, func() bool { return len(seen) == 70 })
}

type services struct{ reg prometheus.Registerer }

func (s services) Registerer() prometheus.Registerer { return s.reg }

// TestRegistererFromServices: without Config.Registerer, the spout uses the
// registerer the runtime offers in the task context.
func TestRegistererFromServices(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}})
	reg := prometheus.NewRegistry()
	tc := testContext("svc", 0, 1, topology.AtLeastOnce, 10)
	tc.Services = services{reg}
	openSpout(t, fastConfig(c, "t"), tc)
	if _, ok := gauge(t, reg, "gale_kafka_consumer_lag", "t", 0); !ok {
		t.Fatal("no lag series on the runtime's registerer")
	}
}

// TestOpenErrors: an unknown topic and an unreachable broker make Open fail
// after OpenTimeout with an error naming the task and the cause.
func TestOpenErrors(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"t": 1}})
	cfg := fastConfig(c, "nope")
	cfg.OpenTimeout = 2 * time.Second
	s := New(cfg)().(*Spout)
	err := s.Open(t.Context(), testContext("open", 0, 1, topology.AtLeastOnce, 10))
	if err == nil || !strings.Contains(err.Error(), "topic nope") || !strings.Contains(err.Error(), "task 1") {
		t.Fatalf("unknown topic: %v", err)
	}
	c.Down()
	cfg = fastConfig(c, "t")
	cfg.OpenTimeout = 300 * time.Millisecond
	s = New(cfg)().(*Spout)
	if err := s.Open(t.Context(), testContext("open", 0, 1, topology.AtLeastOnce, 10)); err == nil || !strings.Contains(err.Error(), c.Addr()) {
		t.Fatalf("broker down: %v", err)
	}
}
