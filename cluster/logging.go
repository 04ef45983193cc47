package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// memberlistLogger bridges memberlist's *log.Logger to slog. memberlist
// writes lines such as "[WARN] memberlist: Was able to connect to ...";
// the writer maps the bracketed level onto slog's levels, so debug chatter
// stays at Debug (slog.NewLogLogger alone would log everything at one level).
func memberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(&levelWriter{l: l.With("component", "memberlist")}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

var levelPrefixes = []struct {
	prefix []byte
	level  slog.Level
}{
	{[]byte("[DEBUG]"), slog.LevelDebug},
	{[]byte("[INFO]"), slog.LevelInfo},
	{[]byte("[WARN]"), slog.LevelWarn},
	{[]byte("[ERR]"), slog.LevelError},
	{[]byte("[ERROR]"), slog.LevelError},
}

func (w *levelWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lp := range levelPrefixes {
		if rest, ok := bytes.CutPrefix(msg, lp.prefix); ok {
			level, msg = lp.level, bytes.TrimSpace(rest)
			break
		}
	}
	msg = bytes.TrimPrefix(msg, []byte("memberlist: "))
	if w.l.Enabled(context.Background(), level) {
		w.l.Log(context.Background(), level, string(msg))
	}
	return len(p), nil
}
