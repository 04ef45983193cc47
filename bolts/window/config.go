package window

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/topology"
)

// Names of the fields every result tuple carries after the key fields.
const (
	StartField = "window_start"
	EndField   = "window_end"
)

// DefaultLateStream is the default of [Config.LateStream].
const DefaultLateStream topology.StreamID = "late"

// DefaultStateName is the default of [Config.StateName].
const DefaultStateName = "window"

// Config configures a window bolt (see [New]). Zero fields take the default
// named in their comment.
type Config struct {
	// KeyFields are the fields whose values make the key windows are kept
	// per; subscribe the bolt with the fields grouping on the same fields.
	// Empty makes one global set of windows: run such a bolt with the
	// global grouping (or parallelism 1).
	KeyFields []string

	// Assigner decides the windows of each tuple. Required.
	Assigner Assigner

	// TimeField names the field holding a tuple's event time, a time.Time or
	// integer milliseconds since the Unix epoch. Time windows need exactly
	// one of TimeField, TimeExtract and ProcessingTime (Given windows need
	// none); count windows none of them.
	TimeField string
	// TimeExtract reads a tuple's event time instead of TimeField; it reports
	// false when the tuple has none. Shared by every task: it must be safe to
	// call concurrently.
	TimeExtract func(t topology.Tuple) (time.Time, bool)
	// ProcessingTime measures windows by the task's clock: a tuple's time is
	// its arrival, and windows fire when the clock passes their end, checked
	// on each tuple and on tick tuples (declare a tick interval on the bolt,
	// see [topology.BoltDeclarer.Tick], so windows fire when no tuples come).
	ProcessingTime bool
	// Clock is the processing-time clock. Default time.Now.
	Clock func() time.Time

	// AllowedLateness keeps event-time windows after they fired, for tuples
	// that arrive late: until the watermark passes end + AllowedLateness,
	// such a tuple updates the window and the bolt emits the updated result
	// again. Later tuples go to LateStream. Default 0: a window takes no
	// tuple after it fired.
	AllowedLateness time.Duration

	// Aggregation computes the results: [Aggregate] or [ProcessAll].
	// Required.
	Aggregation Aggregation

	// OutputFields name the aggregate fields of the results, after the key
	// fields, StartField and EndField. Required.
	OutputFields []string

	// Stream is the stream results are emitted on. Default
	// topology.DefaultStream.
	Stream topology.StreamID

	// InputFields are the fields of the input stream. An event-time bolt
	// declares its late stream with them and emits each late tuple's values
	// unchanged, so they are required for event time. In full-window mode
	// the stored tuples are projected onto them.
	InputFields []string
	// LateStream is the stream late tuples go to: tuples of event-time
	// windows that arrive when every window they belong to has been purged.
	// Default [DefaultLateStream]. Subscribe to it to handle them; emits on
	// a stream nobody subscribes to are dropped.
	LateStream topology.StreamID

	// StateName prefixes the names of the bolt's keyed state, so that two
	// window bolts sharing a component (or a bolt embedding one) keep
	// apart. Default [DefaultStateName].
	StateName string

	// Registerer receives the metrics gale_window_fired_total and
	// gale_window_late_tuples_total, labelled topology, component and task.
	// Default: the registerer the runtime offers through
	// topology.Context.Services (a Registerer() method), if any.
	Registerer prometheus.Registerer
}

// eventTime reports whether the bolt works in event time.
func (c *Config) eventTime() bool {
	return c.Assigner.kind == kindGiven || (c.Assigner.timeBased() && !c.ProcessingTime)
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Stream == "" {
		c.Stream = topology.DefaultStream
	}
	if c.LateStream == "" {
		c.LateStream = DefaultLateStream
	}
	if c.StateName == "" {
		c.StateName = DefaultStateName
	}
}

// Validate reports every problem with c at once, each wrapping
// [ErrInvalidConfig].
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	for _, p := range c.Assigner.validate() {
		bad("%s", p)
	}
	if c.Aggregation.impl == nil {
		bad("no aggregation (use Aggregate or ProcessAll)")
	}
	if len(c.OutputFields) == 0 {
		bad("no output fields")
	}
	if c.AllowedLateness < 0 {
		bad("allowed lateness %s is negative", c.AllowedLateness)
	}
	timeSources := 0
	if c.TimeField != "" {
		timeSources++
	}
	if c.TimeExtract != nil {
		timeSources++
	}
	if c.ProcessingTime {
		timeSources++
	}
	switch c.Assigner.kind {
	case kindCount:
		if timeSources > 0 || c.AllowedLateness > 0 {
			bad("count windows take no event time, processing time or allowed lateness")
		}
	case kindGiven:
		if timeSources > 0 {
			bad("given windows take their time from their end field; set no time source")
		}
	case kindTumbling, kindSliding, kindSession:
		if timeSources != 1 {
			bad("time windows need exactly one of TimeField, TimeExtract and ProcessingTime (have %d)", timeSources)
		}
		if c.ProcessingTime && c.AllowedLateness > 0 {
			bad("processing-time windows take no allowed lateness")
		}
	}
	if c.eventTime() && len(c.InputFields) == 0 {
		bad("event-time windows need InputFields to declare the late stream")
	}
	out := slices.Concat(c.KeyFields, []string{StartField, EndField}, c.OutputFields)
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f] {
			bad("output field %q appears twice (key fields, %s, %s and output fields together)", f, StartField, EndField)
		}
		seen[f] = true
	}
	if c.Stream != "" && c.Stream == c.LateStream {
		bad("results and late tuples share stream %q", c.Stream)
	}
	return errors.Join(errs...)
}

// resultFields are the fields of the results stream.
func (c *Config) resultFields() []string {
	return slices.Concat(c.KeyFields, []string{StartField, EndField}, c.OutputFields)
}
