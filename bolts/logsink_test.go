package bolts

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := prepared(t, Log(logger, LogLevel(slog.LevelWarn), LogMessage("seen")))
	in := topology.NewTuple("count", "default", 4, topology.Fields{"word", "count"}, topology.Values{"cow", int64(3)})
	r, err := execute(t, b, in)
	if err != nil || len(r.emits) != 0 {
		t.Fatalf("log: emits %v err %v", r.emits, err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log output %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"level": "WARN", "msg": "seen", "topology": "test", "component": "c", "task": 1.0,
		"source": "count", "stream": "default", "source_task": 4.0, "word": "cow", "count": 3.0,
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, rec[k], rec[k], v)
		}
	}
	if got := outputs(t, Log(nil)); got != nil {
		t.Errorf("log sink declares %v", got)
	}
}

func TestLogBelowLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b := prepared(t, Log(logger)) // Info, below the handler's level
	if _, err := execute(t, b, word("x")); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("logged below the level: %s", buf.String())
	}
}
