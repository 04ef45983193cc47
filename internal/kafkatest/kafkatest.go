package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms the broker accepts.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// User is a SASL user of the broker.
type User struct {
	// Mechanism is [Plain], [ScramSHA256] or [ScramSHA512].
	Mechanism string
	Name      string
	Password  string
}

// Config says what broker to start. The zero value is one broker on a random
// loopback port, with no topics and no authentication.
type Config struct {
	// Topics are created at start: topic name → number of partitions.
	Topics map[string]int32
	// Users enables SASL when not empty. Every user is a superuser.
	Users []User
	// Brokers is the number of brokers. Default: 1.
	Brokers int
	// Ports are the ports to listen on, one per broker. Default: random.
	Ports []int
	// TLS makes the brokers speak TLS only; see [GenerateTLS]. The helpers
	// connect with the client certificate of the same TLSFiles.
	TLS *TLSFiles
	// DataDir makes the broker persist its data there, so that [Cluster.Up]
	// after [Cluster.Down] finds it again. Default: in memory only.
	DataDir string
}

// Cluster is a running (or, between Down and Up, stopped) kfake broker set.
// Its methods are safe for concurrent use.
type Cluster struct {
	cfg Config

	mu struct {
		sync.Mutex
		kc    *kfake.Cluster
		addrs []string
		cl    *kgo.Client // lazily created; closed by Down and Close
	}
}

// NewCluster starts a broker described by cfg.
func NewCluster(cfg Config) (*Cluster, error) {
	if cfg.Brokers <= 0 {
		cfg.Brokers = 1
	}
	if len(cfg.Ports) == 0 {
		cfg.Ports = make([]int, cfg.Brokers)
	}
	for _, u := range cfg.Users {
		switch u.Mechanism {
		case Plain, ScramSHA256, ScramSHA512:
		default:
			return nil, fmt.Errorf("kafkatest: unknown SASL mechanism %q", u.Mechanism)
		}
	}
	c := &Cluster{cfg: cfg}
	if err := c.Up(); err != nil {
		return nil, err
	}
	// Fix the ports actually bound, so Up after Down reuses them.
	c.cfg.Ports = nil
	for _, a := range c.Addrs() {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("kafkatest: %w", err)
		}
		n, _ := strconv.Atoi(p)
		c.cfg.Ports = append(c.cfg.Ports, n)
	}
	return c, nil
}

// Start is [NewCluster] for tests: it fails tb on error and closes the
// cluster when the test ends.
func Start(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	c, err := NewCluster(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func (c *Cluster) options() []kfake.Opt {
	opts := []kfake.Opt{kfake.Ports(c.cfg.Ports...)}
	for t, n := range c.cfg.Topics {
		opts = append(opts, kfake.SeedTopics(n, t))
	}
	if len(c.cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range c.cfg.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if c.cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(c.cfg.DataDir))
	}
	if c.cfg.TLS != nil {
		opts = append(opts, kfake.TLS(c.cfg.TLS.Server))
	}
	return opts
}

// Up starts the broker if it is down. After [Cluster.Down] it listens on the
// same ports; with [Config.DataDir] it has the same data.
func (c *Cluster) Up() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.kc != nil {
		return nil
	}
	var (
		kc  *kfake.Cluster
		err error
	)
	// A port just released may take a moment to be free again.
	for range 50 {
		kc, err = kfake.NewCluster(c.options()...)
		if err == nil || !isListenError(err) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("kafkatest: start broker: %w", err)
	}
	c.mu.kc = kc
	c.mu.addrs = kc.ListenAddrs()
	return nil
}

func isListenError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "listen"
}

// Down stops the broker; clients see connection errors until [Cluster.Up].
func (c *Cluster) Down() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.cl != nil {
		c.mu.cl.Close()
		c.mu.cl = nil
	}
	if c.mu.kc != nil {
		c.mu.kc.Close()
		c.mu.kc = nil
	}
}

// Close stops the broker for good. It may be called more than once.
func (c *Cluster) Close() { c.Down() }

// Addrs returns the brokers' host:port addresses.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.mu.addrs...)
}

// Addr returns the first broker's address, enough to bootstrap a client.
func (c *Cluster) Addr() string { return c.Addrs()[0] }

// Kfake returns the running kfake cluster, for its control functions, or nil
// while the cluster is down.
func (c *Cluster) Kfake() *kfake.Cluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.kc
}

// client returns the shared franz-go client, authenticated as the first
// user when SASL is on.
func (c *Cluster) client() (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.kc == nil {
		return nil, errors.New("kafkatest: cluster is down")
	}
	if c.mu.cl != nil {
		return c.mu.cl, nil
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.mu.addrs...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(1 << 20),
	}
	opts = append(opts, c.authOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: client: %w", err)
	}
	c.mu.cl = cl
	return cl, nil
}

// Record is a record to produce.
type Record struct {
	Topic     string
	Partition int32
	Key       []byte
	Value     []byte
	Headers   map[string]string
	// Time is the record's timestamp. Default: the time of producing.
	Time time.Time
}

// Produce writes recs and waits until the broker acknowledged them all. Each
// record goes to the partition it names.
func (c *Cluster) Produce(ctx context.Context, recs ...Record) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Time}
		for k, v := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		krs[i] = kr
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("kafkatest: produce: %w", err)
	}
	return nil
}

// ProduceN writes n records to each partition of topic, each with a value of
// size bytes (its first bytes are "<partition>-<i>", the rest padding) and a
// key "k<i>", in batches. It returns after the broker acknowledged them all.
func (c *Cluster) ProduceN(ctx context.Context, topic string, partitions int32, n, size int) error {
	const batch = 5000
	recs := make([]Record, 0, batch)
	for i := range n {
		for p := range partitions {
			v := make([]byte, size)
			copy(v, fmt.Sprintf("%d-%d", p, i))
			recs = append(recs, Record{Topic: topic, Partition: p, Key: []byte("k" + strconv.Itoa(i)), Value: v})
		}
		if len(recs) >= batch {
			if err := c.Produce(ctx, recs...); err != nil {
				return err
			}
			recs = recs[:0]
		}
	}
	if len(recs) > 0 {
		return c.Produce(ctx, recs...)
	}
	return nil
}

func (c *Cluster) admin() (*kadm.Client, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// CreateTopic creates topic with the given number of partitions.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int32) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	r, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return fmt.Errorf("kafkatest: create topic %s: %w", topic, err)
	}
	return nil
}

// AddPartitions adds n partitions to topic.
func (c *Cluster) AddPartitions(ctx context.Context, topic string, n int) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	rs, err := adm.CreatePartitions(ctx, n, topic)
	if err == nil {
		err = rs.Error()
	}
	if err != nil {
		return fmt.Errorf("kafkatest: add partitions to %s: %w", topic, err)
	}
	return nil
}

// HighWatermarks returns the high watermark (the offset the next record will
// get) of each partition of topic.
func (c *Cluster) HighWatermarks(ctx context.Context, topic string) (map[int32]int64, error) {
	adm, err := c.admin()
	if err != nil {
		return nil, err
	}
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafkatest: high watermarks of %s: %w", topic, err)
	}
	out := make(map[int32]int64)
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// Committed returns the offsets group has committed for the partitions of
// topic; partitions without a commit are absent.
func (c *Cluster) Committed(ctx context.Context, group, topic string) (map[int32]int64, error) {
	adm, err := c.admin()
	if err != nil {
		return nil, err
	}
	rs, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err == nil {
		err = rs.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kafkatest: committed offsets of %s on %s: %w", group, topic, err)
	}
	out := make(map[int32]int64)
	for p, o := range rs[topic] {
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// Consume reads every record of topic from offset 0 up to the high
// watermarks at the time of the call, in order per partition.
func (c *Cluster) Consume(ctx context.Context, topic string) (map[int32][]*kgo.Record, error) {
	hw, err := c.HighWatermarks(ctx, topic)
	if err != nil {
		return nil, err
	}
	want := 0
	offs := make(map[int32]kgo.Offset)
	for p, h := range hw {
		want += int(h)
		offs[p] = kgo.NewOffset().At(0)
	}
	out := make(map[int32][]*kgo.Record)
	if want == 0 {
		return out, nil
	}
	c.mu.Lock()
	addrs := c.mu.addrs
	c.mu.Unlock()
	opts := []kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs})}
	opts = append(opts, c.authOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: consume: %w", err)
	}
	defer cl.Close()
	got := 0
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("kafkatest: consume %s: got %d of %d records: %w", topic, got, want, err)
		}
		if err := fs.Err(); err != nil {
			return out, fmt.Errorf("kafkatest: consume %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < hw[r.Partition] {
				out[r.Partition] = append(out[r.Partition], r)
				got++
			}
		})
	}
	return out, nil
}

// authOpts authenticates a franz-go client as the first user, if any, and
// sets up TLS when the brokers use it.
func (c *Cluster) authOpts() []kgo.Opt {
	var opts []kgo.Opt
	if c.cfg.TLS != nil {
		tc, err := c.cfg.TLS.clientTLS()
		if err == nil {
			opts = append(opts, kgo.DialTLSConfig(tc))
		}
	}
	if len(c.cfg.Users) == 0 {
		return opts
	}
	u := c.cfg.Users[0]
	switch u.Mechanism {
	case Plain:
		opts = append(opts, kgo.SASL(plain.Auth{User: u.Name, Pass: u.Password}.AsMechanism()))
	case ScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: u.Name, Pass: u.Password}.AsSha256Mechanism()))
	case ScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: u.Name, Pass: u.Password}.AsSha512Mechanism()))
	}
	return opts
}

// ProduceTransaction writes recs in one transaction and commits it, or
// aborts it when commit is false. Transactions leave control records
// (markers) in the log, which take offsets of their own.
func (c *Cluster) ProduceTransaction(ctx context.Context, id string, commit bool, recs ...Record) error {
	c.mu.Lock()
	addrs := c.mu.addrs
	c.mu.Unlock()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addrs...), kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}, c.authOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafkatest: transactional client: %w", err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("kafkatest: begin transaction: %w", err)
	}
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Time}
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("kafkatest: produce in transaction: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		return fmt.Errorf("kafkatest: end transaction: %w", err)
	}
	return nil
}
