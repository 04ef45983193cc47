package bolts

import (
	"context"
	"log/slog"

	"github.com/gale-stream/gale/topology"
)

// LogOption configures [Log].
type LogOption func(*logBolt)

// LogLevel sets the level tuples are logged at. Default: slog.LevelInfo.
func LogLevel(l slog.Level) LogOption { return func(b *logBolt) { b.level = l } }

// LogMessage sets the log message. Default: "tuple".
func LogMessage(msg string) LogOption { return func(b *logBolt) { b.msg = msg } }

// Log returns a terminal bolt that logs every input to logger (nil means
// slog.Default()) and acks it. Each record carries the topology, component
// and task of the logging task, the source component, stream and task of the
// tuple, and one attribute per field. It declares no output.
func Log(logger *slog.Logger, opts ...LogOption) topology.BoltFactory {
	proto := logBolt{base: logger, level: slog.LevelInfo, msg: "tuple"}
	for _, o := range opts {
		o(&proto)
	}
	return func() topology.Bolt {
		b := proto
		return topology.Basic(&b)
	}
}

type logBolt struct {
	base   *slog.Logger
	logger *slog.Logger // base with the task's attributes, set in Prepare
	level  slog.Level
	msg    string
	attrs  []slog.Attr // reused between calls
}

func (b *logBolt) Prepare(_ context.Context, tc *topology.Context) error {
	l := b.base
	if l == nil {
		l = slog.Default()
	}
	b.logger = l.With("topology", tc.Topology, "component", string(tc.Component), "task", int(tc.Task))
	return nil
}

func (b *logBolt) Cleanup() error { return nil }

func (b *logBolt) Execute(ctx context.Context, t topology.Tuple, _ topology.BasicEmitter) error {
	if !b.logger.Enabled(ctx, b.level) {
		return nil
	}
	b.attrs = append(b.attrs[:0],
		slog.String("source", string(t.Source())),
		slog.String("stream", string(t.Stream())),
		slog.Int("source_task", int(t.SourceTask())),
	)
	fields := t.Fields()
	for i := range t.Len() {
		name := "#"
		if i < len(fields) {
			name = fields[i]
		}
		b.attrs = append(b.attrs, slog.Any(name, t.Value(i)))
	}
	b.logger.LogAttrs(ctx, b.level, b.msg, b.attrs...)
	return nil
}
