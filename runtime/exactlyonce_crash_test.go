package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/bolts/window"
	"github.com/gale-stream/gale/internal/crashtest"
	"github.com/gale-stream/gale/topology"
)

const crashChildEnv = "GALE_EXACTLY_ONCE_CHILD_DIR"

// The child's topology: two replayable spout tasks of crashN tuples each,
// over crashKeys keys per task, into three checker tasks keeping keyed
// counts and sequence checks.
const crashN, crashKeys, crashSpouts = 30000, 40, 2

// crashWindow is the size of the tumbling windows in event-time
// milliseconds (one per sequence number): each key has crashWindow/crashKeys
// tuples in each window.
const crashWindow = 1000

func committedCount(dir string) int {
	lines, err := committedLines(dir)
	if err != nil {
		return 0
	}
	return len(lines)
}

// crashResult is what the child writes when it finishes cleanly.
type crashResult struct {
	Counts     map[string]int64 `json:"counts"`
	Violations map[string]int64 `json:"violations"`
	// Restored are the positions the final run's spout tasks resumed from.
	Restored []int `json:"restored"`
}

// runCrashChild runs the topology with its state in dir until every spout
// task has emitted everything, then stops it gracefully and writes the
// checker's final state to dir/result.json. It returns the exit code.
func runCrashChild(dir string) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res := &eoResult{counts: map[string]int64{}, violations: map[string]int64{}}
	exhausted := &exhaustion{tasks: map[topology.TaskID]bool{}}
	var never atomic.Bool
	b := topology.NewBuilder("crash")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: 50 * time.Millisecond})
	b.SetSpout("seq", func() topology.Spout {
		return &replaySpout{n: crashN, keys: crashKeys, exhausted: exhausted, completed: true, slow: true, eventTime: true}
	}, crashSpouts).Output("key", "seq", "ts").EventTime(topology.EventTime{Field: "ts", Interval: 20 * time.Millisecond})
	b.SetBolt("check", func() topology.Bolt {
		return &countingChecker{keys: crashKeys, spoutTasks: crashSpouts, n: crashN, failArmed: &never, result: res}
	}, 3).FieldsFrom("seq", "key")
	b.SetBolt("window", window.Count(window.Config{
		KeyFields:   []string{"key"},
		Assigner:    window.Tumbling(crashWindow * time.Millisecond),
		TimeField:   "ts",
		InputFields: []string{"key", "seq", "ts"},
	}), 2).FieldsFrom("seq", "key")
	b.SetBolt("sink", func() topology.Bolt { return &fileSink{dir: filepath.Join(dir, "out")} }, 1).GlobalFrom("window")
	topo, err := b.Build()
	if err != nil {
		logger.Error("build", "err", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, topo, Options{Logger: logger, StateDir: dir}) }()
	// Wait until every spout task emitted everything and the sink committed
	// every window: crashSpouts × crashKeys keys × crashN/crashWindow windows.
	want := crashSpouts * crashKeys * crashN / crashWindow
	for exhausted.count() < crashSpouts || committedCount(filepath.Join(dir, "out")) < want {
		select {
		case err := <-done:
			logger.Error("run ended early", "err", err)
			return 1
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		logger.Error("run", "err", err)
		return 1
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	exhausted.mu.Lock()
	restored := exhausted.restored
	exhausted.mu.Unlock()
	out, _ := json.Marshal(crashResult{Counts: res.counts, Violations: res.violations, Restored: restored})
	if err := os.WriteFile(filepath.Join(dir, "result.json"), out, 0o644); err != nil {
		logger.Error("write result", "err", err)
		return 1
	}
	return 0
}

// TestExactlyOnceUnderCrashes runs the topology in a child process, kills it
// with SIGKILL at random moments three times, restarts it each time from its
// state directory, and lets the last run finish: every key's count must
// equal the ground truth, and the checker must have seen every key's
// sequence numbers without gap or duplicate.
func TestExactlyOnceUnderCrashes(t *testing.T) {
	dir := t.TempDir()
	crashtest.Run(t, crashtest.Config{
		Env:   []string{crashChildEnv + "=" + dir},
		Kills: 3,
		Finished: func() bool {
			_, err := os.Stat(filepath.Join(dir, "result.json"))
			return err == nil
		},
	})
	raw, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res crashResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("the final run resumed its spout tasks at %v", res.Restored)
	if len(res.Restored) != crashSpouts {
		t.Errorf("the final run restored %d spout tasks from a checkpoint, want %d", len(res.Restored), crashSpouts)
	}
	for key, v := range res.Violations {
		if v != 0 {
			t.Errorf("the checker saw %d sequence gaps or duplicates for %s", v, key)
		}
	}
	for task := range crashSpouts {
		for k := range crashKeys {
			key := fmt.Sprintf("t%d-k%d", task, k)
			if got := res.Counts[key]; got != crashN/crashKeys {
				t.Errorf("count of %s = %d, want %d", key, got, crashN/crashKeys)
			}
		}
	}
	// The windowed counts the sink committed: every (key, window) exactly
	// once, each with crashWindow/crashKeys tuples.
	lines, err := committedLines(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, l := range lines {
		if len(l) != 4 {
			t.Fatalf("sink line %v, want (key, window_start, window_end, count)", l)
		}
		id := fmt.Sprint(l[0], "@", l[1])
		seen[id]++
		if seen[id] == 2 {
			t.Errorf("window %s committed twice", id)
		}
		if n, _ := l[3].(float64); n != crashWindow/crashKeys {
			t.Errorf("window %s counted %v tuples, want %d", id, l[3], crashWindow/crashKeys)
		}
	}
	if want := crashSpouts * crashKeys * crashN / crashWindow; len(seen) != want {
		t.Errorf("the sink committed %d distinct windows, want %d", len(seen), want)
	}
}
