package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestSessionsMatchTheSimulation(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), config{users: 60, seed: 5}, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "check: ") {
		t.Errorf("no check line:\n%s", out.String())
	}
	t.Log(out.String())
}
