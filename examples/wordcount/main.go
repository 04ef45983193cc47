// Command wordcount runs the classic word count in process: a seeded sentence
// generator, a split bolt (shuffle grouping) and a count bolt (fields grouping
// on "word"). It prints live rates every second and, at the end, the top
// words and a check that the total equals sentences × words per sentence.
//
//	go run ./examples/wordcount
//	go run ./examples/wordcount -sentences 1000000 -guarantee at-most-once
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

type config struct {
	sentences   int64 // per spout task
	words       int
	spouts      int
	split       int
	count       int
	rate        float64
	guarantee   topology.Guarantee
	seed        int64
	metricsAddr string
	top         int
}

func main() {
	var cfg config
	var guarantee string
	flag.Int64Var(&cfg.sentences, "sentences", 200_000, "sentences per spout task")
	flag.IntVar(&cfg.words, "words", 10, "words per sentence")
	flag.IntVar(&cfg.spouts, "spouts", 1, "spout tasks")
	flag.IntVar(&cfg.split, "split", 2, "split tasks")
	flag.IntVar(&cfg.count, "count", 2, "count tasks")
	flag.Float64Var(&cfg.rate, "rate", 0, "sentences per second per spout task (0: as fast as possible)")
	flag.StringVar(&guarantee, "guarantee", "at-least-once", "at-most-once or at-least-once")
	flag.Int64Var(&cfg.seed, "seed", 1, "generator seed")
	flag.StringVar(&cfg.metricsAddr, "metrics", "", "serve Prometheus metrics on this address (for example 127.0.0.1:9464)")
	flag.IntVar(&cfg.top, "top", 10, "how many top words to print")
	flag.Parse()
	g, err := topology.ParseGuarantee(guarantee)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.guarantee = g
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(ctx, cfg, os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, out io.Writer, logger *slog.Logger) error {
	genCfg := gen.SentenceConfig{
		Seed:             cfg.seed,
		WordsPerSentence: cfg.words,
		Limit:            cfg.sentences,
		Rate:             cfg.rate,
		Reliable:         cfg.guarantee == topology.AtLeastOnce,
	}
	counts := bolts.NewCounts()
	b := topology.NewBuilder("wordcount")
	b.SetConfig(topology.Config{Guarantee: cfg.guarantee})
	b.SetSpout("sentences", gen.Sentences(genCfg), cfg.spouts)
	b.SetBolt("split", bolts.Split(" "), cfg.split).ShuffleFrom("sentences")
	b.SetBolt("count", bolts.Count("word", bolts.Into(counts), bolts.Silent()), cfg.count).FieldsFrom("split", "word")
	topo, err := b.Build()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	if cfg.metricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
		fmt.Fprintf(out, "metrics on http://%s/metrics\n", ln.Addr())
	}

	l, err := runtime.Start(ctx, topo, runtime.Options{Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	want := cfg.sentences * int64(cfg.words) * int64(cfg.spouts)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last int64
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			n := counts.Total()
			fmt.Fprintf(out, "%6.1fs  words %10d  %9.0f words/s  distinct %5d\n",
				time.Since(start).Seconds(), n, float64(n-last), counts.Len())
			last = n
			done = n >= want
		}
		if counts.Total() >= want {
			done = true
		}
	}
	if err := l.Stop(context.Background()); err != nil {
		return err
	}
	elapsed := time.Since(start)
	total := counts.Total()
	fmt.Fprintf(out, "counted %d words in %v (%.0f words/s)\n", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())

	type wc struct {
		word string
		n    int64
	}
	var all []wc
	for w, n := range counts.Strings() {
		all = append(all, wc{w, n})
	}
	slices.SortFunc(all, func(a, b wc) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.word, b.word)) })
	for i, w := range all[:min(cfg.top, len(all))] {
		fmt.Fprintf(out, "%3d. %-12s %d\n", i+1, w.word, w.n)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(out, "interrupted: counted %d of %d words\n", total, want)
		return nil
	}
	if total != want {
		return fmt.Errorf("counted %d words, want %d (%d sentences × %d words × %d spout tasks)", total, want, cfg.sentences, cfg.words, cfg.spouts)
	}
	fmt.Fprintf(out, "check: total %d = %d sentences × %d words × %d spout tasks\n", total, cfg.sentences, cfg.words, cfg.spouts)
	return nil
}
