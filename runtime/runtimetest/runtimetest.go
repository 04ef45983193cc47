// Package runtimetest runs topologies in tests: it starts one in process,
// lets the test feed it (through spouts/testspout), waits for conditions, and
// stops it cleanly when the test ends.
//
//	feed := make(chan topology.Values)
//	b.SetSpout("in", testspout.FromChan(feed, testspout.WithFields("word")), 1)
//	...
//	h := runtimetest.Start(t, b)
//	feed <- topology.Values{"hello"}
//	h.Eventually("counted", func() bool { return counts.Get("hello") == 1 })
package runtimetest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/topology"
)

// Harness is a topology running for one test.
type Harness struct {
	t testing.TB
	// Local is the running topology.
	Local *runtime.Local
	// Registry holds the topology's metrics.
	Registry *prometheus.Registry
	stopped  bool
}

// Start builds b and starts it with a fresh metrics registry and the test's
// log. The topology is stopped when the test ends, and the test fails if
// the stop does not drain within the topology's shutdown timeout.
func Start(t testing.TB, b *topology.Builder) *Harness {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	h := &Harness{t: t, Registry: prometheus.NewRegistry()}
	h.Local, err = runtime.Start(t.Context(), topo, runtime.Options{Logger: Logger(t), Registerer: h.Registry})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if !h.stopped {
			if err := h.Local.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	})
	return h
}

// Stop stops the topology gracefully and fails the test if it does not
// drain in time.
func (h *Harness) Stop() {
	h.t.Helper()
	h.stopped = true
	if err := h.Local.Stop(context.Background()); err != nil {
		h.t.Fatalf("stop: %v", err)
	}
}

// Eventually polls cond until it holds, failing the test after 10 seconds.
func (h *Harness) Eventually(what string, cond func() bool) {
	h.t.Helper()
	Eventually(h.t, 10*time.Second, what, cond)
}

// Eventually polls cond every few milliseconds until it holds, and fails
// the test naming what it waited for when d passes first.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Logger returns a logger that writes warnings and errors to the test's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(writer{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type writer struct{ t testing.TB }

func (w writer) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
