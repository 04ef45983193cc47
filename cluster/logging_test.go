package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := memberlistLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Printf("[DEBUG] memberlist: chatter")
	l.Printf("[WARN] memberlist: Refuting a dead message")
	l.Printf("[ERR] memberlist: Failed to send")
	l.Printf("no level at all")
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="Refuting a dead message" component=memberlist`,
		`level=ERROR msg="Failed to send"`,
		`level=INFO msg="no level at all"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "chatter") {
		t.Errorf("debug line logged at info level:\n%s", out)
	}
}
