// Command wordcount-cluster is the word count of examples/wordcount as a
// cluster topology binary: its main hands the topology to gale.Main, so the
// same binary runs locally, prints its spec, submits itself, or runs as a
// worker started by a gale node.
//
//	go build -o /tmp/wc ./examples/wordcount-cluster
//	/tmp/wc run --state-dir /tmp/wc-state          # locally, until Ctrl-C
//	gale submit /tmp/wc --workers 1                 # or: /tmp/wc submit --node http://127.0.0.1:7070
//
// Each spout task emits a fixed number of sentences (WORDCOUNT_SENTENCES,
// default 5000) of WORDCOUNT_WORDS words (default 10), so the counts are
// known in advance. Once its counts settle, the program writes result.json
// into its state directory (its total, the expected total of the whole
// topology, and the count of every word it counted) and keeps running, as
// topologies do, until it is stopped. Spread over several workers, each
// worker writes the counts of its own count tasks.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gale-stream/gale"
	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

const spouts = 2

// Result is what the program writes to result.json.
type Result struct {
	Topology string           `json:"topology"`
	Total    int64            `json:"total"`
	Want     int64            `json:"want"`
	Counts   map[string]int64 `json:"counts"`
	Elapsed  string           `json:"elapsed"`
}

func main() {
	sentences := envInt("WORDCOUNT_SENTENCES", 5000)
	words := envInt("WORDCOUNT_WORDS", 10)
	counts := bolts.NewCounts()
	b := topology.NewBuilder("wordcount")
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce, MessageTimeout: 2 * time.Minute})
	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{
		Seed:             1,
		WordsPerSentence: int(words),
		Limit:            sentences,
		Reliable:         true,
	}), spouts)
	b.SetBolt("split", bolts.Split(" "), 2).ShuffleFrom("sentences")
	b.SetBolt("count", bolts.Count("word", bolts.Into(counts), bolts.Silent()), 2).FieldsFrom("split", "word")

	want := sentences * words * spouts
	gale.Main(b, gale.WhileRunning(func(ctx context.Context, env gale.Env) error {
		return report(ctx, env, counts, want)
	}))
}

// report writes result.json into the state directory whenever this
// process's counts have changed and then stayed the same for a moment. A
// topology spread over several workers counts each word in one of them, so
// the whole result is the sum of the workers' files.
func report(ctx context.Context, env gale.Env, counts *bolts.Counts, want int64) error {
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, written := int64(0), int64(0)
	changed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		n := counts.Total()
		if n != last {
			last, changed = n, time.Now()
			if n < want {
				continue
			}
		}
		if n == 0 || n == written || (n < want && time.Since(changed) < 300*time.Millisecond) {
			continue
		}
		res := Result{Topology: "wordcount", Total: n, Want: want, Counts: counts.Strings(), Elapsed: time.Since(start).String()}
		if env.Assignment != nil {
			res.Topology = env.Assignment.Topology
		}
		if n >= want {
			env.Logger.Info("wordcount done", "total", n, "want", want, "distinct", len(res.Counts))
		} else {
			env.Logger.Info("wordcount counts settled", "total", n, "want", want)
		}
		written = n
		if env.StateDir == "" {
			fmt.Printf("counted %d words, want %d\n", n, want)
			continue
		}
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if err := supervisor.WriteFileAtomic(filepath.Join(env.StateDir, "result.json"), b, 0o600); err != nil {
			return err
		}
	}
}

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}
