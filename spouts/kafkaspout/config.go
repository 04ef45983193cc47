package kafkaspout

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/topology"
)

// StartKind says where a partition is read from when a task starts reading it.
type StartKind uint8

const (
	// StartCommitted reads from the group's committed offset, and from
	// [Config.Fallback] when the group has none. It is the default.
	StartCommitted StartKind = iota
	// StartEarliest reads from the oldest retained record, ignoring commits.
	StartEarliest
	// StartLatest reads only records produced after the task starts,
	// ignoring commits.
	StartLatest
	// StartAtTime reads from the first record whose timestamp is at or after
	// [StartPosition.Time], ignoring commits; from the end when there is none.
	StartAtTime
)

// StartPosition is where a partition is read from when a task starts reading
// it. In an exactly-once topology restored from a checkpoint, the
// checkpointed offsets win over the start position.
type StartPosition struct {
	Kind StartKind
	// Time is the timestamp for [StartAtTime].
	Time time.Time
}

// Committed, Earliest, Latest and AtTime are the start positions.
var (
	Committed = StartPosition{Kind: StartCommitted}
	Earliest  = StartPosition{Kind: StartEarliest}
	Latest    = StartPosition{Kind: StartLatest}
)

// AtTime starts at the first record with a timestamp at or after t.
func AtTime(t time.Time) StartPosition { return StartPosition{Kind: StartAtTime, Time: t} }

func (p StartPosition) String() string {
	switch p.Kind {
	case StartCommitted:
		return "committed"
	case StartEarliest:
		return "earliest"
	case StartLatest:
		return "latest"
	case StartAtTime:
		return "time " + p.Time.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("start(%d)", p.Kind)
}

// FailurePolicy says what happens to a record whose tuple failed more than
// [Config.MaxRetries] times (or that cannot be decoded that often).
type FailurePolicy uint8

const (
	// RetryForever replays the record until it succeeds. The partition's
	// commit point stays at the record meanwhile, and the partition stops
	// fetching once [Config.MaxUncommitted] records wait behind it. Default.
	RetryForever FailurePolicy = iota
	// Skip treats the record as done: it is counted, logged and committed
	// past.
	Skip
	// DeadLetter produces the record (key, value and headers, plus headers
	// naming its origin) to [Config.DeadLetterTopic], then treats it as done.
	// If that write fails, the record is retried later like a failed tuple.
	DeadLetter
)

// Default values of [Config].
const (
	DefaultMaxUncommitted   = 10_000
	DefaultCommitInterval   = time.Second
	DefaultMetadataInterval = 10 * time.Second
	DefaultLagInterval      = 2 * time.Second
	DefaultRetryBackoff     = 100 * time.Millisecond
	DefaultMaxRetryBackoff  = 10 * time.Second
	DefaultFetchMaxBytes    = 1 << 20
	DefaultFetchMaxWait     = 250 * time.Millisecond
	DefaultRequestTimeout   = 10 * time.Second
	DefaultOpenTimeout      = 30 * time.Second
	DefaultMaxEmitPerNext   = 256
)

// Fields of the tuples the spout emits on the default stream, unless
// [Config.Map] replaces them.
//
//	key        the record key, through Config.KeyDecoder ([]byte by default)
//	value      the record value, through Config.ValueDecoder ([]byte by default)
//	topic      string
//	partition  int32
//	offset     int64
//	timestamp  int64, the record timestamp in milliseconds since the Unix epoch
//	headers    map[string][]byte (for a repeated header key, the last value), nil without headers
//
// [EventTimeField] is the field that holds the event time.
var DefaultFields = topology.Fields{"key", "value", "topic", "partition", "offset", "timestamp", "headers"}

// EventTimeField is the field holding a tuple's event time (the record
// timestamp, in Unix milliseconds), for windows that use event time.
const EventTimeField = "timestamp"

// EventTime declares the record timestamp ([EventTimeField]) as the event
// time of the spout's tuples, for [topology.SpoutDeclarer.EventTime]:
//
//	b.SetSpout("clicks", kafkaspout.New(cfg), 4).EventTime(kafkaspout.EventTime(5 * time.Second))
//
// outOfOrderness is how far behind the newest timestamp seen a record may
// be and still not count as late. With [Config.Map], declare your own.
func EventTime(outOfOrderness time.Duration) topology.EventTime {
	return topology.EventTime{Field: EventTimeField, OutOfOrderness: outOfOrderness}
}

// Record is a Kafka record as [Config.Map] sees it. Its byte slices are
// private copies the spout does not modify.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Time      time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Config configures the Kafka spout. Zero fields take the default named in
// their comment. Every task of the spout component uses the same Config.
type Config struct {
	// Brokers are bootstrap broker addresses (host:port). Required.
	Brokers []string
	// Topics to read. Exactly one of Topics and TopicPattern is required.
	Topics []string
	// TopicPattern selects every topic whose name it matches; the topic list
	// is refreshed every MetadataInterval, so topics created later are
	// picked up.
	TopicPattern *regexp.Regexp

	// Group is the consumer group id under which offsets are committed, so
	// that standard lag tools (kafka-consumer-groups, Burrow, exporters) see
	// them. The spout does not join the group: partitions are spread over
	// the tasks by the spout itself. Default: "gale-<topology name>".
	Group string

	// Start is where a partition is read from when a task starts reading it.
	// Default: [Committed].
	Start StartPosition
	// Fallback is where [StartCommitted] starts when the group has no
	// committed offset for a partition, and where reading resumes when the
	// committed offset is out of range (deleted by retention). It must not
	// be [Committed]. Default: [Earliest].
	Fallback StartPosition

	// KeyDecoder and ValueDecoder turn the record key and value into tuple
	// values. Default: [Bytes]. See also [String], [JSON] and [Msgpack].
	KeyDecoder, ValueDecoder Decoder
	// Map, when set, replaces the default record-to-tuple conversion (and
	// the decoders): it returns the values of the tuple, in the order of
	// OutputFields. An error counts as a failure of the record.
	Map func(r *Record) (topology.Values, error)
	// OutputFields are the fields Map returns. Required with Map; must be
	// empty without it ([DefaultFields] are used).
	OutputFields topology.Fields

	// MaxUncommitted bounds the records of a partition that have been
	// emitted but are not yet committable (at-least-once): at the bound the
	// partition stops emitting, and so fetching, until the lowest pending
	// record is acked. Default: 10,000.
	MaxUncommitted int
	// CommitInterval is how often acked offsets are committed
	// (at-least-once). Default: 1s.
	CommitInterval time.Duration
	// MaxRetries is how often a failed record is replayed before
	// OnFailure applies. Default: 0, so with RetryForever it never applies;
	// with Skip or DeadLetter set it to at least 1 (Validate checks).
	MaxRetries int
	// RetryBackoff is the delay before the first replay of a failed record;
	// it doubles with each further failure up to MaxRetryBackoff.
	// Defaults: 100ms and 10s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// OnFailure is what happens to a record after MaxRetries failures.
	// Default: [RetryForever].
	OnFailure FailurePolicy
	// DeadLetterTopic receives records given up on with [DeadLetter].
	DeadLetterTopic string

	// ReadCommitted reads only records of committed transactions (Kafka's
	// isolation.level=read_committed) and none of aborted ones, up to the
	// last stable offset. Default: false, read_uncommitted, Kafka's default.
	ReadCommitted bool

	// Security configures TLS and SASL. Default: plaintext, no auth.
	Security *Security

	// FetchMaxBytes bounds the bytes of one fetch of one partition.
	// Default: 1 MiB.
	FetchMaxBytes int
	// FetchMaxWait is how long the broker holds a fetch when no record is
	// available. Default: 250ms.
	FetchMaxWait time.Duration
	// RequestTimeout bounds every other broker request. Default: 10s.
	RequestTimeout time.Duration
	// OpenTimeout bounds how long Open tries to reach the brokers before it
	// fails. A SASL authentication failure fails at once. Default: 30s.
	OpenTimeout time.Duration
	// MetadataInterval is how often the partition list is refreshed, so
	// new partitions and topics are picked up. Default: 10s.
	MetadataInterval time.Duration
	// LagInterval is how often high watermarks of owned partitions are
	// listed, so the lag metrics stay current even when nothing is fetched.
	// Default: 2s.
	LagInterval time.Duration
	// MaxEmitPerNext bounds the tuples one call of Next emits; with
	// at-least-once it is further bounded by the topology's MaxSpoutPending
	// minus the tuples in flight. Default: 256.
	MaxEmitPerNext int

	// Registerer receives the spout's metrics. Tasks sharing a registerer
	// share the metric vectors. Default: the runtime's, when its
	// topology.Context.Services is a [RegistererProvider]; else none.
	Registerer prometheus.Registerer
	// Logger receives the spout's logs. Default: the task's logger from
	// the topology context, or slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Fallback == (StartPosition{}) {
		c.Fallback = Earliest
	}
	if c.KeyDecoder == nil {
		c.KeyDecoder = Bytes
	}
	if c.ValueDecoder == nil {
		c.ValueDecoder = Bytes
	}
	if c.MaxUncommitted == 0 {
		c.MaxUncommitted = DefaultMaxUncommitted
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.MetadataInterval == 0 {
		c.MetadataInterval = DefaultMetadataInterval
	}
	if c.LagInterval == 0 {
		c.LagInterval = DefaultLagInterval
	}
	if c.MaxEmitPerNext == 0 {
		c.MaxEmitPerNext = DefaultMaxEmitPerNext
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, each wrapped
// with [ErrConfig].
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if len(c.Brokers) == 0 {
		add("Brokers is empty")
	}
	if (len(c.Topics) == 0) == (c.TopicPattern == nil) {
		add("set exactly one of Topics and TopicPattern")
	}
	if c.Fallback.Kind == StartCommitted {
		add("Fallback must not be Committed")
	}
	if c.Start.Kind > StartAtTime || c.Fallback.Kind > StartAtTime {
		add("unknown start position")
	}
	if (c.Map == nil) != (len(c.OutputFields) == 0) {
		add("Map and OutputFields go together")
	}
	if c.MaxUncommitted < 0 || c.MaxRetries < 0 || c.MaxEmitPerNext < 0 || c.FetchMaxBytes < 0 {
		add("MaxUncommitted, MaxRetries, MaxEmitPerNext and FetchMaxBytes must not be negative")
	}
	switch c.OnFailure {
	case RetryForever:
	case Skip, DeadLetter:
		if c.MaxRetries < 1 {
			add("MaxRetries must be at least 1 with OnFailure Skip or DeadLetter")
		}
	default:
		add("unknown OnFailure policy %d", c.OnFailure)
	}
	if (c.OnFailure == DeadLetter) != (c.DeadLetterTopic != "") {
		add("DeadLetterTopic is required with OnFailure DeadLetter, and only then")
	}
	for _, e := range c.Security.validate() {
		add("%w", e)
	}
	return errors.Join(errs...)
}

// outputFields are the fields of the emitted tuples.
func (c Config) outputFields() topology.Fields {
	if c.Map != nil {
		return c.OutputFields
	}
	return DefaultFields
}
