package kafkasink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafka "github.com/segmentio/kafka-go"

	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/topology"
)

// Message is a record to produce, as [Config.Map] returns it.
type Message struct {
	// Topic overrides [Config.Topic] when not empty.
	Topic   string
	Key     []byte
	Value   []byte
	Headers []kafkaspout.Header
	// Time is the record timestamp. Default: the time of writing.
	Time time.Time
}

// Default values of [Config].
const (
	DefaultBatchSize    = 500
	DefaultBatchBytes   = 1 << 20
	DefaultLinger       = 50 * time.Millisecond
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxAttempts  = 3
	DefaultIDHeader     = "gale-id"
)

// Config configures the Kafka sink. Zero fields take the default named in
// their comment.
type Config struct {
	// Brokers are bootstrap broker addresses (host:port). Required.
	Brokers []string
	// Topic is the topic to produce to. Required unless every Message from
	// Map names its topic, or TopicField is set.
	Topic string
	// TopicField names a string field holding each tuple's topic.
	TopicField string

	// KeyField, ValueField and HeadersField name the tuple fields the record
	// is made of. A missing field gives a nil key, an empty value or no
	// headers. Defaults: "key", "value", "headers". Fields hold []byte or
	// string, or any other value, which Encode turns into bytes. Headers
	// hold map[string][]byte or map[string]string.
	KeyField, ValueField, HeadersField string
	// Encode turns a key or value that is neither []byte nor string into
	// bytes. Default: JSON.
	Encode func(v any) ([]byte, error)
	// Map, when set, replaces the field mapping: it returns the record for
	// a tuple. An error fails the tuple.
	Map func(t topology.Tuple) (Message, error)

	// ID, when set, returns a deterministic id of the output of a tuple
	// (for example from the input record's topic, partition and offset);
	// it is written in the IDHeader header, so consumers can drop the
	// duplicates that replays produce. See the package documentation.
	ID func(t topology.Tuple) []byte
	// IDHeader is the header that carries ID. Default: "gale-id".
	IDHeader string

	// BatchSize is the number of buffered tuples that triggers a write.
	// Default: 500.
	BatchSize int
	// BatchBytes is the buffered key and value bytes that trigger a write.
	// Default: 1 MiB.
	BatchBytes int
	// Linger is how long a buffered tuple may wait for its batch to fill
	// before Execute writes it anyway. A tuple that arrives when the
	// component is idle is written by the next tick tuple, so give the
	// component a Tick (of about Linger) with [topology.BoltDeclarer.Tick].
	// Default: 50ms.
	Linger time.Duration
	// RequiredAcks is the acknowledgement a write waits for.
	// Default: kafka.RequireAll.
	RequiredAcks kafka.RequiredAcks
	// Balancer picks a record's partition. Default: kafka.Murmur2Balancer,
	// which hashes keys as the Java client does, so records with equal keys
	// go to one partition, in order.
	Balancer kafka.Balancer
	// Compression of the batches. Default: none.
	Compression kafka.Compression
	// WriteTimeout bounds one write of a batch, retries included.
	// Default: 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often kafka-go tries a batch before the sink fails
	// its tuples (which replays them, with at-least-once). Default: 3.
	MaxAttempts int

	// Security configures TLS and SASL, as for the spout.
	Security *kafkaspout.Security
	// Registerer receives the sink's metrics. Default: the runtime's, when
	// its topology.Context.Services is a [kafkaspout.RegistererProvider];
	// else none.
	Registerer prometheus.Registerer
	// Logger receives the sink's logs. Default: the task's logger.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.KeyField == "" {
		c.KeyField = "key"
	}
	if c.ValueField == "" {
		c.ValueField = "value"
	}
	if c.HeadersField == "" {
		c.HeadersField = "headers"
	}
	if c.Encode == nil {
		c.Encode = json.Marshal
	}
	if c.IDHeader == "" {
		c.IDHeader = DefaultIDHeader
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.RequiredAcks == 0 {
		c.RequiredAcks = kafka.RequireAll
	}
	if c.Balancer == nil {
		c.Balancer = kafka.Murmur2Balancer{}
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	return c
}

// Validate reports every problem of c at once, each marked [ErrConfig].
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(msg string) { errs = append(errs, fmt.Errorf("%w: %s", ErrConfig, msg)) }
	if len(c.Brokers) == 0 {
		add("Brokers is empty")
	}
	if c.Topic == "" && c.TopicField == "" && c.Map == nil {
		add("set Topic, TopicField or Map")
	}
	if c.BatchSize < 1 || c.BatchBytes < 1 || c.MaxAttempts < 1 {
		add("BatchSize, BatchBytes and MaxAttempts must be positive")
	}
	if err := (kafkaspout.Config{Brokers: []string{"x"}, Topics: []string{"x"}, Security: c.Security}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
	}
	return errors.Join(errs...)
}

// Sink is the Kafka sink bolt. Create it with [New].
type Sink struct {
	cfg Config

	tc        *topology.Context
	log       *slog.Logger
	w         *kafka.Writer
	stats     *writerStats
	transport *kafka.Transport
	m         *taskMetrics

	// Owned by the task goroutine.
	out     topology.Emitter // the task's emitter, kept for Flush
	msgs    []kafka.Message
	tuples  []topology.Tuple
	bytes   int
	oldest  time.Time
	failing bool
}

// New returns a factory of Kafka sinks configured by cfg, for
// [topology.Builder.SetBolt]. The configuration is validated in Prepare.
func New(cfg Config) topology.BoltFactory {
	return func() topology.Bolt { return &Sink{cfg: cfg} }
}

// Prepare validates the configuration and creates the kafka-go writer.
func (s *Sink) Prepare(ctx context.Context, tc *topology.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("kafkasink: topology %s component %s task %d: %w", tc.Topology, tc.Component, tc.Task, err)
	}
	s.cfg = s.cfg.withDefaults()
	s.tc = tc
	s.log = s.cfg.Logger
	if s.log == nil {
		s.log = tc.Logger
	}
	if s.log == nil {
		s.log = slog.Default().With("topology", tc.Topology, "component", string(tc.Component), "task", int(tc.Task))
	}
	reg := s.cfg.Registerer
	if p, ok := tc.Services.(kafkaspout.RegistererProvider); ok && reg == nil {
		reg = p.Registerer()
	}
	m, err := metricsFor(reg)
	if err != nil {
		return fmt.Errorf("kafkasink: register metrics: %w", err)
	}
	s.m = m.forTask(tc.Topology, string(tc.Component))
	s.stats = m.writers
	tr, err := s.cfg.Security.Transport(fmt.Sprintf("gale-%s-%s-%d", tc.Topology, tc.Component, tc.Task), s.cfg.WriteTimeout)
	if err != nil {
		return fmt.Errorf("kafkasink: topology %s component %s task %d: %w", tc.Topology, tc.Component, tc.Task, err)
	}
	s.transport = tr
	s.w = &kafka.Writer{
		Addr:         kafka.TCP(s.cfg.Brokers...),
		Balancer:     s.cfg.Balancer,
		MaxAttempts:  s.cfg.MaxAttempts,
		BatchSize:    s.cfg.BatchSize,
		BatchBytes:   int64(s.cfg.BatchBytes) * 2,
		BatchTimeout: time.Millisecond, // the sink batches; kafka-go should not wait
		WriteTimeout: s.cfg.WriteTimeout,
		RequiredAcks: s.cfg.RequiredAcks,
		Compression:  s.cfg.Compression,
		Transport:    tr,
	}
	s.stats.add(s.w, tc.Topology, string(tc.Component))
	return nil
}

// Execute buffers t's record, and writes the buffer when it is full or its
// oldest tuple waited Linger. A tick tuple writes the buffer. Tuples are
// acked only after the brokers acknowledged their records, and failed when
// the write fails.
func (s *Sink) Execute(ctx context.Context, t topology.Tuple, out topology.Emitter) error {
	s.out = out
	if topology.IsTick(t) {
		out.Ack(t)
		return s.Flush(ctx)
	}
	msg, err := s.message(t)
	if err != nil {
		s.m.encodeErrors.Inc()
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	if len(s.msgs) == 0 {
		s.oldest = time.Now()
	}
	s.msgs = append(s.msgs, msg)
	s.tuples = append(s.tuples, t)
	s.bytes += len(msg.Key) + len(msg.Value)
	if len(s.msgs) >= s.cfg.BatchSize || s.bytes >= s.cfg.BatchBytes || time.Since(s.oldest) >= s.cfg.Linger {
		return s.Flush(ctx)
	}
	return nil
}

// message turns a tuple into a kafka-go message.
func (s *Sink) message(t topology.Tuple) (kafka.Message, error) {
	var msg kafka.Message
	if s.cfg.Map != nil {
		m, err := s.cfg.Map(t)
		if err != nil {
			return msg, err
		}
		msg = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Time: m.Time}
		for _, h := range m.Headers {
			msg.Headers = append(msg.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	} else {
		var err error
		if v, ok := t.Get(s.cfg.KeyField); ok {
			if msg.Key, err = s.bytesOf(v); err != nil {
				return msg, fmt.Errorf("field %s: %w", s.cfg.KeyField, err)
			}
		}
		if v, ok := t.Get(s.cfg.ValueField); ok {
			if msg.Value, err = s.bytesOf(v); err != nil {
				return msg, fmt.Errorf("field %s: %w", s.cfg.ValueField, err)
			}
		}
		if v, ok := t.Get(s.cfg.HeadersField); ok && v != nil {
			switch hs := v.(type) {
			case map[string][]byte:
				for k, v := range hs {
					msg.Headers = append(msg.Headers, kafka.Header{Key: k, Value: v})
				}
			case map[string]string:
				for k, v := range hs {
					msg.Headers = append(msg.Headers, kafka.Header{Key: k, Value: []byte(v)})
				}
			case map[string]any: // what msgpack gives back across workers
				for k, v := range hs {
					b, err := s.bytesOf(v)
					if err != nil {
						return msg, fmt.Errorf("header %s: %w", k, err)
					}
					msg.Headers = append(msg.Headers, kafka.Header{Key: k, Value: b})
				}
			default:
				return msg, fmt.Errorf("field %s holds %T, not a map of headers", s.cfg.HeadersField, v)
			}
		}
		if s.cfg.TopicField != "" {
			v, ok := t.Get(s.cfg.TopicField)
			topic, isStr := v.(string)
			if !ok || !isStr || topic == "" {
				return msg, fmt.Errorf("field %s holds no topic name (%T)", s.cfg.TopicField, v)
			}
			msg.Topic = topic
		}
	}
	if msg.Topic == "" {
		msg.Topic = s.cfg.Topic
	}
	if msg.Topic == "" {
		return msg, errors.New("no topic")
	}
	if s.cfg.ID != nil {
		msg.Headers = append(msg.Headers, kafka.Header{Key: s.cfg.IDHeader, Value: s.cfg.ID(t)})
	}
	return msg, nil
}

func (s *Sink) bytesOf(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return s.cfg.Encode(v)
}

// Flush writes the buffered records synchronously and acks their tuples, or
// fails them if the brokers did not acknowledge the write (with
// kafka.WriteErrors, only the records that failed). In exactly-once
// topologies the runtime calls it before the task acknowledges a
// checkpoint barrier, so a checkpoint never covers unwritten output. It
// returns an error marked [ErrWrite] when a record was not written. It must
// be called on the task's goroutine.
func (s *Sink) Flush(ctx context.Context) error {
	if len(s.msgs) == 0 {
		return nil
	}
	msgs, tuples := s.msgs, s.tuples
	s.msgs, s.tuples, s.bytes = nil, nil, 0
	start := time.Now()
	err := s.w.WriteMessages(ctx, msgs...)
	s.m.writeDur.Observe(time.Since(start).Seconds())
	s.m.batchSize.Observe(float64(len(msgs)))
	var werrs kafka.WriteErrors
	failed := 0
	for i, t := range tuples {
		var e error
		if errors.As(err, &werrs) && len(werrs) == len(msgs) {
			e = werrs[i]
		} else {
			e = err
		}
		if e != nil {
			failed++
			if s.out != nil {
				s.out.Fail(t)
			}
			continue
		}
		s.m.written.Inc()
		s.m.writtenBytes.Add(float64(len(msgs[i].Key) + len(msgs[i].Value)))
		if s.out != nil {
			s.out.Ack(t)
		}
	}
	if failed == 0 {
		if s.failing {
			s.failing = false
			s.log.Info("kafka sink writes recovered")
		}
		return nil
	}
	s.m.failed.Add(float64(failed))
	err = s.cfg.Security.ExplainError(err)
	if !s.failing {
		s.failing = true
		s.log.Warn("kafka sink write failed; tuples failed for replay", "records", failed, "err", err)
	}
	return fmt.Errorf("%w: %d of %d records: %w", ErrWrite, failed, len(msgs), err)
}

// Cleanup writes what is buffered (bounded by the topology's shutdown
// timeout) and closes the writer.
func (s *Sink) Cleanup() error {
	if s.w == nil {
		return nil
	}
	timeout := s.tc.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = topology.DefaultShutdownTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.Flush(ctx)
	s.stats.remove(s.w)
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.transport.CloseIdleConnections()
	s.w = nil
	return err
}

var _ topology.Checkpointer = (*Sink)(nil)

// Snapshot implements [topology.Checkpointer]: it flushes, so that every
// record of the inputs before the barrier is in Kafka before the task
// acknowledges the checkpoint; a failed write fails the checkpoint. The sink
// keeps no state of its own, so the snapshot is empty.
func (s *Sink) Snapshot(id uint64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		return nil, fmt.Errorf("kafkasink: checkpoint %d: %w", id, err)
	}
	return nil, nil
}

// Restore implements [topology.Checkpointer]; there is nothing to restore.
func (s *Sink) Restore([]byte) error { return nil }

// CheckpointComplete implements [topology.Checkpointer]; nothing to do: the
// records were written at Snapshot (see the package documentation for what
// that means for duplicates).
func (s *Sink) CheckpointComplete(uint64) {}
