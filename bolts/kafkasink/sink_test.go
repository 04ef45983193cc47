package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// acker is an Emitter test double that records acks and fails.
type acker struct {
	acked, failed []topology.Tuple
}

func (a *acker) Emit(topology.Values, ...topology.Tuple)                                           {}
func (a *acker) EmitStream(topology.StreamID, topology.Values, ...topology.Tuple)                  {}
func (a *acker) EmitDirect(topology.TaskID, topology.StreamID, topology.Values, ...topology.Tuple) {}
func (a *acker) Ack(t topology.Tuple)                                                              { a.acked = append(a.acked, t) }
func (a *acker) Fail(t topology.Tuple)                                                             { a.failed = append(a.failed, t) }
func (a *acker) ReportError(error)                                                                 {}

var fields = topology.Fields{"key", "value", "headers", "n"}

func tuple(i int) topology.Tuple {
	key := fmt.Sprintf("k%d", i%5)
	return topology.NewTuple("up", topology.DefaultStream, 1, fields, topology.Values{
		key, []byte(fmt.Sprintf("v%d", i)), map[string]string{"i": fmt.Sprint(i)}, i,
	})
}

func tick() topology.Tuple {
	return topology.NewTuple(topology.SystemComponent, topology.TickStream, 0, nil, nil)
}

func testContext(topo string) *topology.Context {
	return &topology.Context{
		Topology: topo, Component: "sink", Task: 1, Index: 0, Parallelism: 1,
		Config: topology.Config{}.WithDefaults(), Logger: slog.New(slog.DiscardHandler),
	}
}

func prepare(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s := New(cfg)().(*Sink)
	if err := s.Prepare(t.Context(), testContext("sinktest")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Cleanup() })
	return s
}

// readAll reads every record of topic with a plain kafka-go Reader per
// partition, up to the given high watermarks.
func readAll(t *testing.T, c *kafkatest.Cluster, topic string) map[int][]kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	hw, err := c.HighWatermarks(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]kafka.Message{}
	for p, h := range hw {
		if h == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Addrs(), Topic: topic, Partition: int(p), MaxWait: 50 * time.Millisecond})
		for int64(len(out[int(p)])) < h {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			out[int(p)] = append(out[int(p)], m)
		}
		r.Close()
	}
	return out
}

func TestWriteBatchesAndAck(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"out": 3}})
	reg := prometheus.NewRegistry()
	s := prepare(t, Config{Brokers: c.Addrs(), Topic: "out", BatchSize: 10, Linger: time.Hour, Registerer: reg})
	var a acker
	ctx := t.Context()
	for i := range 25 {
		if err := s.Execute(ctx, tuple(i), &a); err != nil {
			t.Fatal(err)
		}
		// Nothing is acked before its batch was written.
		if want := (i + 1) / 10 * 10; len(a.acked) != want {
			t.Fatalf("after %d tuples: %d acked, want %d", i+1, len(a.acked), want)
		}
	}
	if err := s.Execute(ctx, tick(), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.acked) != 26 || len(a.failed) != 0 { // 25 tuples and the tick
		t.Fatalf("acked %d failed %d, want 26 and 0", len(a.acked), len(a.failed))
	}
	got := readAll(t, c, "out")
	total := 0
	keyPart := map[string]int{}
	lastOfKey := map[string]int{}
	for p, msgs := range got {
		for _, m := range msgs {
			total++
			if q, ok := keyPart[string(m.Key)]; ok && q != p {
				t.Fatalf("key %s in partitions %d and %d", m.Key, q, p)
			}
			keyPart[string(m.Key)] = p
			var i int
			if _, err := fmt.Sscanf(string(m.Value), "v%d", &i); err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != fmt.Sprintf("k%d", i%5) || len(m.Headers) != 1 || m.Headers[0].Key != "i" || string(m.Headers[0].Value) != fmt.Sprint(i) {
				t.Fatalf("record %d: key %s headers %v", i, m.Key, m.Headers)
			}
			if prev, ok := lastOfKey[string(m.Key)]; ok && prev >= i {
				t.Fatalf("key %s: record %d after %d", m.Key, i, prev)
			}
			lastOfKey[string(m.Key)] = i
		}
	}
	if total != 25 {
		t.Fatalf("read %d records, want 25", total)
	}
	if v := testutil.ToFloat64(s.m.written); v != 25 {
		t.Fatalf("records metric %v, want 25", v)
	}
	// kafka-go's own Writer.Stats, read at scrape time, agree.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var written float64
	for _, mf := range mfs {
		if mf.GetName() == "gale_kafka_writer_messages_total" {
			for _, m := range mf.GetMetric() {
				written += m.GetCounter().GetValue()
			}
		}
	}
	if written != 25 {
		t.Fatalf("kafka-go's Writer.Stats report %v messages, want 25", written)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestLingerAndFlush(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"out": 1}})
	s := prepare(t, Config{Brokers: c.Addrs(), Topic: "out", Linger: 20 * time.Millisecond, ID: func(t topology.Tuple) []byte {
		return fmt.Appendf(nil, "id-%d", t.Int64("n"))
	}})
	var a acker
	ctx := t.Context()
	if err := s.Execute(ctx, tuple(0), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.acked) != 0 {
		t.Fatal("acked before the write")
	}
	time.Sleep(30 * time.Millisecond)
	if err := s.Execute(ctx, tuple(1), &a); err != nil { // past Linger: writes both
		t.Fatal(err)
	}
	if len(a.acked) != 2 {
		t.Fatalf("acked %d after linger, want 2", len(a.acked))
	}
	if err := s.Execute(ctx, tuple(2), &a); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.acked) != 3 {
		t.Fatalf("acked %d after Flush, want 3", len(a.acked))
	}
	if err := s.Execute(ctx, tuple(3), &a); err != nil {
		t.Fatal(err)
	}
	if snap, err := s.Snapshot(1); err != nil || snap != nil { // the exactly-once barrier
		t.Fatalf("Snapshot: %v, %v", snap, err)
	}
	if len(a.acked) != 4 {
		t.Fatalf("acked %d after Snapshot, want 4", len(a.acked))
	}
	got := readAll(t, c, "out")[0]
	if len(got) != 4 {
		t.Fatalf("read %d records, want 4", len(got))
	}
	for i, m := range got {
		var id string
		for _, h := range m.Headers {
			if h.Key == DefaultIDHeader {
				id = string(h.Value)
			}
		}
		if id != fmt.Sprintf("id-%d", i) {
			t.Fatalf("record %d: id header %q", i, id)
		}
	}
}

func TestWriteFailureFailsTuples(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"out": 1}})
	s := prepare(t, Config{Brokers: c.Addrs(), Topic: "out", BatchSize: 3, MaxAttempts: 1, WriteTimeout: 2 * time.Second})
	var a acker
	ctx := t.Context()
	c.Down()
	var err error
	for i := range 3 {
		err = s.Execute(ctx, tuple(i), &a)
	}
	if !errors.Is(err, ErrWrite) {
		t.Fatalf("write to a stopped broker: %v, want ErrWrite", err)
	}
	if len(a.acked) != 0 || len(a.failed) != 3 {
		t.Fatalf("acked %d failed %d, want 0 and 3", len(a.acked), len(a.failed))
	}
}

func TestEncodeError(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"out": 1}})
	s := prepare(t, Config{Brokers: c.Addrs(), Topic: "out"})
	bad := topology.NewTuple("up", topology.DefaultStream, 1, fields, topology.Values{"k", func() {}, nil, 0})
	if err := s.Execute(t.Context(), bad, &acker{}); !errors.Is(err, ErrEncode) {
		t.Fatalf("unencodable value: %v, want ErrEncode", err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{}.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("empty config: %v", err)
	}
	if err := (Config{Brokers: []string{"b"}, Topic: "t"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSASLAndTopicField(t *testing.T) {
	users := []kafkatest.User{{Mechanism: kafkatest.ScramSHA512, Name: "u", Password: "right"}}
	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"a": 1, "b": 1}, Users: users})
	t.Setenv("GALE_SINK_PW", "right")
	t.Setenv("GALE_SINK_BAD_PW", "wrong")
	fields := topology.Fields{"dest", "value"}
	tup := func(dest string, v string) topology.Tuple {
		return topology.NewTuple("up", topology.DefaultStream, 1, fields, topology.Values{dest, v})
	}
	ctx := t.Context()
	good := prepare(t, Config{Brokers: c.Addrs(), TopicField: "dest", Security: &kafkaspout.Security{
		SASL: &kafkaspout.SASL{Mechanism: kafkaspout.MechanismScramSHA512, Username: "u", PasswordEnv: "GALE_SINK_PW"},
	}})
	var a acker
	for _, tp := range []topology.Tuple{tup("a", "1"), tup("b", "2"), tup("a", "3")} {
		if err := good.Execute(ctx, tp, &a); err != nil {
			t.Fatal(err)
		}
	}
	if err := good.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.acked) != 3 {
		t.Fatalf("acked %d, want 3", len(a.acked))
	}
	ga, gb := readAllSASL(t, c, "a"), readAllSASL(t, c, "b")
	if len(ga) != 2 || len(gb) != 1 || string(ga[0].Value) != "1" || string(ga[1].Value) != "3" || string(gb[0].Value) != "2" {
		t.Fatalf("topic a: %d records, topic b: %d", len(ga), len(gb))
	}

	bad := prepare(t, Config{Brokers: c.Addrs(), Topic: "a", MaxAttempts: 1, WriteTimeout: 3 * time.Second, Security: &kafkaspout.Security{
		SASL: &kafkaspout.SASL{Mechanism: kafkaspout.MechanismScramSHA512, Username: "u", PasswordEnv: "GALE_SINK_BAD_PW"},
	}})
	var b acker
	if err := bad.Execute(ctx, tup("a", "x"), &b); err != nil {
		t.Fatal(err)
	}
	err := bad.Flush(ctx)
	if !errors.Is(err, kafkaspout.ErrAuthentication) || len(b.failed) != 1 {
		t.Fatalf("wrong password: %v, %d failed; want ErrAuthentication and 1 failed", err, len(b.failed))
	}
}

// readAllSASL reads a one-partition topic through the harness's own
// (authenticated) client.
func readAllSASL(t *testing.T, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	recs, err := c.Consume(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return recs[0]
}
