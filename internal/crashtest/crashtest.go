// Package crashtest runs a test's topology in a child process and kills it
// with SIGKILL at random moments, as exactly-once tests need: the child is
// the test binary itself, re-executed with an environment variable that its
// TestMain recognises.
//
//	func TestMain(m *testing.M) {
//		if dir := os.Getenv(childEnv); dir != "" {
//			os.Exit(runChild(dir))
//		}
//		os.Exit(m.Run())
//	}
//
//	crashtest.Run(t, crashtest.Config{Env: []string{childEnv + "=" + dir}, Kills: 3, Finished: ...})
package crashtest

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Config says how to run and kill the child.
type Config struct {
	// Env is added to the child's environment; it must make TestMain run
	// the child instead of the tests.
	Env []string
	// Kills is how many runs are killed before the last one may finish.
	Kills int
	// MinRun and MaxRun bound how long a run lives before its kill.
	// Defaults: 300ms and 1s.
	MinRun, MaxRun time.Duration
	// Finished reports whether a run completed its work (typically: a result
	// file exists). A run that finished before its kill fails the test: the
	// input was too short for the kills to land mid-stream.
	Finished func() bool
	// Timeout bounds the final run. Default: 2 minutes.
	Timeout time.Duration
}

// Run starts the child Kills times, killing each run with SIGKILL after a
// random time, then starts it once more and waits for it to exit 0. The
// random seed is logged.
func Run(t testing.TB, cfg Config) {
	t.Helper()
	if cfg.MinRun == 0 {
		cfg.MinRun = 300 * time.Millisecond
	}
	if cfg.MaxRun <= cfg.MinRun {
		cfg.MaxRun = cfg.MinRun + 700*time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	seed := rand.Uint64()
	t.Logf("crash seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), cfg.Env...)
		cmd.Stderr = logWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	for kill := range cfg.Kills {
		cmd := start()
		wait := cfg.MinRun + time.Duration(rng.Int64N(int64(cfg.MaxRun-cfg.MinRun)))
		time.Sleep(wait)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		t.Logf("kill %d after %v: %v", kill+1, wait, err)
		if cfg.Finished != nil && cfg.Finished() {
			t.Fatalf("the child finished before kill %d; the test needs a longer input", kill+1)
		}
	}
	cmd := start()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("final run: %v", err)
		}
	case <-time.After(cfg.Timeout):
		cmd.Process.Kill()
		<-errc
		t.Fatalf("final run did not finish within %v", cfg.Timeout)
	}
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
