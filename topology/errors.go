package topology

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of topology validation. Every [Problem] that [Builder.Build],
// [Config.Validate] or [Spec.Validate] reports wraps exactly one of them, so
// callers test for a kind of problem with errors.Is.
var (
	// ErrCycle: the subscriptions form a cycle; the message names the
	// components on it, in order.
	ErrCycle = errors.New("topology: cycle")

	// ErrUnknownComponent: a bolt subscribes to a component the topology does
	// not have.
	ErrUnknownComponent = errors.New("topology: unknown component")

	// ErrUnknownStream: a bolt subscribes to a stream its source does not
	// declare.
	ErrUnknownStream = errors.New("topology: unknown stream")

	// ErrUnknownField: a grouping names a field the stream does not declare.
	ErrUnknownField = errors.New("topology: unknown field")

	// ErrDuplicateName: two components share a name, a component declares the
	// same stream twice, a stream declares the same field twice, or a bolt
	// subscribes to the same stream twice.
	ErrDuplicateName = errors.New("topology: duplicate name")

	// ErrParallelism: a component's parallelism is below 1.
	ErrParallelism = errors.New("topology: invalid parallelism")

	// ErrDirectGrouping: the direct grouping is used on a stream not declared
	// direct, or another grouping is used on a direct stream.
	ErrDirectGrouping = errors.New("topology: direct grouping mismatch")

	// ErrReservedName: a component or stream name begins with "__", which is
	// reserved for the runtime.
	ErrReservedName = errors.New("topology: reserved name")

	// ErrNoSpouts: the topology has no spout, so nothing would ever run.
	ErrNoSpouts = errors.New("topology: no spouts")

	// ErrMissingFactory: a component has no factory, or its factory returned
	// a nil instance.
	ErrMissingFactory = errors.New("topology: missing factory")

	// ErrFactoryPanic: a component's factory, or its instance's
	// DeclareOutputs, panicked when [Builder.Build] called it.
	ErrFactoryPanic = errors.New("topology: factory panicked")

	// ErrSpoutInput: a spout subscribes to a stream. The builder API cannot
	// express this; a decoded [Spec] can.
	ErrSpoutInput = errors.New("topology: spout with inputs")

	// ErrEmptyName: the topology, a component or a stream has an empty name.
	ErrEmptyName = errors.New("topology: empty name")

	// ErrInvalidName: the topology's name has a character that would break
	// the places it is used in (URLs, file names, metric labels): white
	// space, a control character, '/', '\\' or ':', as in Storm; or it is
	// longer than 128 bytes.
	ErrInvalidName = errors.New("topology: invalid name")

	// ErrInvalidConfig: a configuration value is out of range: a negative
	// duration or size, an unknown guarantee, or a MaxParallelism below a
	// component's parallelism.
	ErrInvalidConfig = errors.New("topology: invalid config")

	// ErrGroupingFields: a fields or partial-key grouping names no field, a
	// custom grouping has no function, or the grouping kind is unknown.
	ErrGroupingFields = errors.New("topology: invalid grouping")

	// ErrInvalidSpec: a [Spec] is inconsistent in a way a built topology
	// cannot be: unknown component kind, or task ids that are not the
	// consecutive ids [Builder.Build] assigns.
	ErrInvalidSpec = errors.New("topology: invalid spec")
)

// Problem is one thing wrong with a topology.
type Problem struct {
	// Component is the component at fault, or empty for topology-wide
	// problems such as the configuration.
	Component ComponentID
	// Stream is the stream at fault, or empty.
	Stream StreamID
	// Err wraps one of the sentinel errors of this package with the details.
	Err error
}

// Error formats the problem as `component "c" stream "s": <what>`.
func (p Problem) Error() string {
	var b strings.Builder
	if p.Component != "" {
		fmt.Fprintf(&b, "component %q", p.Component)
	}
	if p.Stream != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "stream %q", p.Stream)
	}
	msg := "<nil>"
	if p.Err != nil {
		msg = strings.TrimPrefix(p.Err.Error(), "topology: ")
	}
	if b.Len() == 0 {
		return msg
	}
	b.WriteString(": ")
	b.WriteString(msg)
	return b.String()
}

// Unwrap returns p.Err.
func (p Problem) Unwrap() error { return p.Err }

// ValidationError lists every problem found in a topology, its spec or its
// configuration. errors.Is(err, ErrX) holds when any problem wraps ErrX.
type ValidationError struct {
	// Topology is the topology's name (possibly empty).
	Topology string
	// Problems are in a deterministic order: configuration first, then by
	// component in declaration order.
	Problems []Problem
}

// Error lists the problems, one per line after a heading line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Topology == "" {
		b.WriteString("topology: ")
	} else {
		fmt.Fprintf(&b, "topology %q: ", e.Topology)
	}
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].Error())
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems' errors, so that errors.Is and errors.As see
// every one of them.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// problems accumulates Problems.
type problems []Problem

func (ps *problems) add(c ComponentID, s StreamID, sentinel error, format string, args ...any) {
	var err error
	if format == "" {
		err = sentinel
	} else {
		err = fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
	}
	*ps = append(*ps, Problem{Component: c, Stream: s, Err: err})
}

// err returns nil or a *ValidationError holding ps.
func (ps problems) err(topology string) error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Topology: topology, Problems: ps}
}
