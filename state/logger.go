package state

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// pebbleLogger adapts a *slog.Logger to pebble.Logger. Pebble formats its
// own messages, so they go in the "msg" attribute of a constant message.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		// Pebble logs every flush and compaction at info; that is debug
		// detail for us.
		p.l.Debug("pebble", "msg", strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble", "msg", strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Fatalf logs and panics: Pebble calls it on invariant violations and
// expects it not to return. A library must not exit the process, so it
// panics instead, and the worker's supervisor sees the crash.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	p.l.Error("pebble fatal", "msg", msg)
	panic("state: pebble fatal: " + msg)
}
