package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script writes an executable shell script standing in for a topology
// binary; it receives `worker --assignment FILE`.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "topo.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func newSup(t *testing.T, reg prometheus.Registerer, grace time.Duration) *Supervisor {
	t.Helper()
	s, err := New(Config{Dir: t.TempDir(), Registerer: reg, Grace: grace, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func spec(bin, topo string, worker int, epoch uint64) Spec {
	return Spec{Binary: bin, Assignment: Assignment{Topology: topo, Worker: worker, Workers: worker + 1, Epoch: epoch}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func only(t *testing.T, s *Supervisor) Status {
	t.Helper()
	st := s.Status()
	if len(st) != 1 {
		t.Fatalf("status has %d workers, want 1: %+v", len(st), st)
	}
	return st[0]
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func TestStartsWorkerWithAssignment(t *testing.T) {
	// The node's secrets stay out of the worker's environment.
	t.Setenv("GALE_TOKEN", "node-secret")
	t.Setenv("GALE_GOSSIP_KEY", "gossip-secret")
	t.Setenv("GALE_LOG_LEVEL", "debug")
	bin := script(t, `echo "args: $*"; echo "env: $GALE_WORKER_ASSIGNMENT"; echo "token: [$GALE_TOKEN$GALE_GOSSIP_KEY] level: $GALE_LOG_LEVEL"; cat "$GALE_WORKER_ASSIGNMENT"; exec sleep 60`)
	s := newSup(t, nil, time.Second)
	if err := s.Apply([]Spec{spec(bin, "clicks", 0, 7)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return only(t, s).State == StateRunning })
	st := only(t, s)
	waitFor(t, "log", func() bool {
		b, _ := os.ReadFile(st.Log)
		return strings.Contains(string(b), `"epoch": 7`)
	})
	b, _ := os.ReadFile(st.Log)
	path := filepath.Join(filepath.Dir(st.Log), "assignment.json")
	for _, want := range []string{"args: worker --assignment " + path, "env: " + path, "token: [] level: debug", `"topology": "clicks"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log lacks %q:\n%s", want, b)
		}
	}
	a, err := ReadAssignment(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.StateDir != st.StateDir || a.MetricsAddr != "127.0.0.1:0" || a.Epoch != 7 {
		t.Errorf("assignment %+v", a)
	}
	// Applying the same spec again leaves the process alone.
	pid := st.PID
	if err := s.Apply([]Spec{spec(bin, "clicks", 0, 7)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := only(t, s); got.PID != pid || got.State != StateRunning {
		t.Errorf("re-apply changed the worker: %+v, pid was %d", got, pid)
	}
}

func TestRestartsWithBackoff(t *testing.T) {
	reg := prometheus.NewRegistry()
	bin := script(t, `exit 3`)
	s := newSup(t, reg, time.Second)
	start := time.Now()
	if err := s.Apply([]Spec{spec(bin, "crashy", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 restarts", func() bool { return only(t, s).Restarts >= 4 })
	// Backoffs 20, 40, 80ms at least before the 4th restart's start.
	if el := time.Since(start); el < 140*time.Millisecond {
		t.Errorf("4 restarts within %v: no backoff", el)
	}
	st := only(t, s)
	if !strings.Contains(st.LastExit, "exit status 3") {
		t.Errorf("last exit %q", st.LastExit)
	}
	if n := testutil.ToFloat64(s.metrics.restarts.WithLabelValues("crashy")); n < 4 {
		t.Errorf("restarts metric %v", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if err := s.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); len(st) != 0 {
		t.Errorf("after Apply(nil): %+v", st)
	}
}

func TestStopsOnRemoval(t *testing.T) {
	// The script exits on SIGTERM, writing a marker.
	bin := script(t, `trap 'echo got-term; exit 0' TERM; while :; do sleep 0.05; done`)
	s := newSup(t, nil, 5*time.Second)
	if err := s.Apply([]Spec{spec(bin, "t", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return only(t, s).State == StateRunning })
	st := only(t, s)
	start := time.Now()
	if err := s.Apply(nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "process gone", func() bool { return !alive(st.PID) })
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("stop took %v: SIGTERM was not honoured", el)
	}
	waitFor(t, "log marker", func() bool {
		b, _ := os.ReadFile(st.Log)
		return strings.Contains(string(b), "got-term")
	})
}

func TestKillsAfterGrace(t *testing.T) {
	bin := script(t, `trap '' TERM; while :; do sleep 0.05; done`)
	s := newSup(t, nil, 200*time.Millisecond)
	if err := s.Apply([]Spec{spec(bin, "stubborn", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return only(t, s).State == StateRunning })
	pid := only(t, s).PID
	start := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if el < 200*time.Millisecond || el > 3*time.Second {
		t.Errorf("shutdown took %v, want about the 200ms grace", el)
	}
	if alive(pid) {
		t.Errorf("process %d survived SIGKILL", pid)
	}
	if err := s.Apply([]Spec{spec(bin, "stubborn", 0, 1)}); err != ErrClosed {
		t.Errorf("Apply after Shutdown: %v", err)
	}
}

func TestRestartsOnNewAssignment(t *testing.T) {
	bin := script(t, `trap 'exit 0' TERM; while :; do sleep 0.05; done`)
	s := newSup(t, nil, 5*time.Second)
	if err := s.Apply([]Spec{spec(bin, "t", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "running", func() bool { return only(t, s).State == StateRunning })
	old := only(t, s).PID
	if err := s.Apply([]Spec{spec(bin, "t", 0, 2)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new process at epoch 2", func() bool {
		st := only(t, s)
		return st.State == StateRunning && st.Epoch == 2 && st.PID != old
	})
	if alive(old) {
		t.Errorf("old process %d still alive", old)
	}
	if st := only(t, s); st.Restarts != 0 {
		t.Errorf("a reassignment counted as %d restarts", st.Restarts)
	}
}

func TestApplyRejectsBadAssignment(t *testing.T) {
	s := newSup(t, nil, time.Second)
	err := s.Apply([]Spec{{Binary: "/bin/true", Assignment: Assignment{Topology: "", Workers: 1}}})
	if err == nil || !strings.Contains(err.Error(), "no topology") {
		t.Errorf("err %v", err)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"clicks": "clicks", "../etc": ".._etc", "..": "_..", "a/b c": "a_b_c", "": "_"} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRotatesLargeLog(t *testing.T) {
	bin := script(t, `echo fresh; exec sleep 60`)
	s := newSup(t, nil, time.Second)
	dir := s.workerDir(Key{"big", 0})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "worker.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxLogSize + 1); err != nil { // sparse: no real disk use
		t.Fatal(err)
	}
	f.Close()
	if err := s.Apply([]Spec{spec(bin, "big", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fresh log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "fresh")
	})
	if fi, err := os.Stat(logPath); err != nil || fi.Size() > 4096 {
		t.Errorf("log not rotated: %v %v", fi.Size(), err)
	}
	if fi, err := os.Stat(logPath + ".1"); err != nil || fi.Size() != MaxLogSize+1 {
		t.Errorf("rotated log: %v", err)
	}
}
