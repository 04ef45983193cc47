package topology

import (
	"fmt"
	"time"
)

// Guarantee is a topology's delivery guarantee.
type Guarantee uint8

const (
	// AtMostOnce tracks nothing: a lost tuple stays lost.
	AtMostOnce Guarantee = iota + 1
	// AtLeastOnce tracks every spout tuple's tree with ackers, as Storm does,
	// and replays trees that fail or time out.
	AtLeastOnce
	// ExactlyOnce checkpoints state with barriers, as Flink does, so state
	// reflects every input once even across failures.
	ExactlyOnce
)

var guaranteeNames = [...]string{AtMostOnce: "at-most-once", AtLeastOnce: "at-least-once", ExactlyOnce: "exactly-once"}

func (g Guarantee) String() string {
	if g > 0 && int(g) < len(guaranteeNames) {
		return guaranteeNames[g]
	}
	return fmt.Sprintf("guarantee(%d)", uint8(g))
}

// ParseGuarantee is the inverse of [Guarantee.String].
func ParseGuarantee(s string) (Guarantee, error) {
	for g, n := range guaranteeNames {
		if n != "" && n == s {
			return Guarantee(g), nil
		}
	}
	return 0, fmt.Errorf("topology: unknown delivery guarantee %q (want at-most-once, at-least-once or exactly-once)", s)
}

func (g Guarantee) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

func (g *Guarantee) UnmarshalText(b []byte) error {
	v, err := ParseGuarantee(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// Config is a topology's configuration. The zero value of every field means
// "use the default" named in its comment; [Config.WithDefaults] fills them in.
type Config struct {
	// Guarantee is the delivery guarantee. Default: AtLeastOnce.
	Guarantee Guarantee

	// MessageTimeout is how long a spout tuple's tree may take to complete
	// before it fails. Default: 30s.
	MessageTimeout time.Duration

	// MaxSpoutPending bounds the tracked tuples in flight per spout task;
	// Next is not called while a task is at the bound. Default: 1000.
	MaxSpoutPending int

	// Ackers is the number of acker tasks. Default: one per worker.
	Ackers int

	// Workers is the number of worker processes a cluster runs the topology
	// in. Default: 1.
	Workers int

	// MaxParallelism is the number of key groups keys hash into, and so the
	// largest parallelism a stateful component can be rescaled to.
	// Default: 128.
	MaxParallelism int

	// QueueSize is the capacity of each task's inbound queue, in tuples.
	// A full queue blocks its producers: that is backpressure. Default: 1024.
	QueueSize int

	// BatchSize is the most tuples an emitting task buffers per destination
	// before it hands them over. Default: 64.
	BatchSize int

	// FlushInterval bounds how long a tuple waits in a partial batch while
	// its task is busy; an idle task flushes at once. Default: 1ms.
	FlushInterval time.Duration

	// CheckpointInterval is the time between checkpoints of an ExactlyOnce
	// topology. Default: 1s.
	CheckpointInterval time.Duration

	// ShutdownTimeout bounds a graceful stop: draining in-flight trees and
	// cleaning up. Default: 10s.
	ShutdownTimeout time.Duration
}

// Defaults of [Config].
const (
	DefaultMessageTimeout     = 30 * time.Second
	DefaultMaxSpoutPending    = 1000
	DefaultMaxParallelism     = 128
	DefaultQueueSize          = 1024
	DefaultBatchSize          = 64
	DefaultFlushInterval      = time.Millisecond
	DefaultCheckpointInterval = time.Second
	DefaultShutdownTimeout    = 10 * time.Second
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Guarantee == 0 {
		c.Guarantee = AtLeastOnce
	}
	if c.MessageTimeout == 0 {
		c.MessageTimeout = DefaultMessageTimeout
	}
	if c.MaxSpoutPending == 0 {
		c.MaxSpoutPending = DefaultMaxSpoutPending
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Ackers == 0 {
		c.Ackers = c.Workers
	}
	if c.MaxParallelism == 0 {
		c.MaxParallelism = DefaultMaxParallelism
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	return c
}

// Validate reports every invalid field of c at once, as a [*ValidationError]
// whose problems each wrap [ErrInvalidConfig]. It expects defaults to have
// been applied: a zero field is reported only where zero is invalid.
func (c Config) Validate() error {
	// Implemented in validate.go.
	return c.validate()
}
