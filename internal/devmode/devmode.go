// Package devmode is `gale dev`: the newcomer's first command. In one process
// on loopback it starts an embedded Kafka-protocol broker (kfake) with a
// topic of click events fed at a steady rate, runs an exactly-once topology
// on it — Kafka source → parse → event-time windowed counts per page in keyed
// state → Kafka sink — prints a live line every second, and serves
// Prometheus metrics. Given brokers, it uses them instead of the embedded one.
package devmode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"

	"github.com/gale-stream/gale/bolts/kafkasink"
	"github.com/gale-stream/gale/bolts/window"
	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/internal/obs"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/topology"
)

// Config configures a dev run. The zero value of each field means its default.
type Config struct {
	// Brokers of a real Kafka cluster. Default: an embedded broker.
	Brokers []string
	// Topic receives the generated click events. Default "clicks".
	Topic string
	// OutTopic receives the windowed counts. Default "page-counts".
	OutTopic string
	// Partitions of Topic when the embedded broker creates it. Default 4.
	Partitions int
	// Rate is the click events produced per second. Default 2000; negative
	// produces none (to consume an existing topic).
	Rate int
	// Window is the size of the tumbling event-time windows. Default 10s.
	Window time.Duration
	// MetricsAddr is where /metrics is served. Default 127.0.0.1:9464.
	MetricsAddr string
	// Duration stops the run after this long. Default: until ctx ends.
	Duration time.Duration
	// StateDir holds keyed state and checkpoints. Default: a temporary
	// directory.
	StateDir string
	// Logger receives logs. Default: warnings to stderr.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = "clicks"
	}
	if c.OutTopic == "" {
		c.OutTopic = "page-counts"
	}
	if c.Partitions == 0 {
		c.Partitions = 4
	}
	if c.Rate == 0 {
		c.Rate = 2000
	}
	if c.Window == 0 {
		c.Window = 10 * time.Second
	}
	if c.MetricsAddr == "" {
		c.MetricsAddr = "127.0.0.1:9464"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return c
}

// Run runs gale dev until ctx ends or cfg.Duration passes, writing the live
// lines to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	cfg = cfg.withDefaults()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		kc, err := kafkatest.NewCluster(kafkatest.Config{Topics: map[string]int32{cfg.Topic: int32(cfg.Partitions), cfg.OutTopic: 1}})
		if err != nil {
			return fmt.Errorf("dev: start the embedded broker: %w", err)
		}
		defer kc.Close()
		brokers = kc.Addrs()
		fmt.Fprintf(out, "embedded Kafka-protocol broker on %s (topics %s, %s)\n", brokers[0], cfg.Topic, cfg.OutTopic)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := obs.ListenSelf(cfg.MetricsAddr, reg, "dev", "clicks", cfg.Logger)
	if err != nil {
		return fmt.Errorf("dev: serve metrics on %s: %w (choose another address with --metrics-addr)", cfg.MetricsAddr, err)
	}
	defer srv.Close()
	fmt.Fprintf(out, "metrics on %s (Prometheus discovery: %s)\n", srv.URL("/metrics"), srv.URL("/prometheus/sd"))

	var produced atomic.Int64
	prodCtx, stopProducer := context.WithCancel(ctx)
	var prodWG sync.WaitGroup
	if cfg.Rate > 0 {
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: cfg.Topic, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
		prodWG.Go(func() {
			defer w.Close()
			produce(prodCtx, w, cfg.Rate, &produced, cfg.Logger)
		})
	}
	defer func() {
		stopProducer()
		prodWG.Wait()
	}()

	last := &lastResult{}
	topo, err := buildTopology(cfg, brokers, last)
	if err != nil {
		return err
	}
	stateDir := cfg.StateDir
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "gale-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(stateDir)
	}
	l, err := runtime.Start(ctx, topo, runtime.Options{Logger: cfg.Logger, Registerer: reg, StateDir: stateDir})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "topology %s running: kafka %s → parse → %v windows per page → kafka %s (exactly-once)\n", topo.Name(), cfg.Topic, cfg.Window, cfg.OutTopic)

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	var lastProduced, lastIn float64
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-l.Done():
			done = true
		case <-tick.C:
			m := gather(reg)
			p := float64(produced.Load())
			in := m["gale_executor_executed_tuples_total{component=parse}"]
			fmt.Fprintf(out, "%5.0fs  produced %6.0f/s  processed %6.0f/s  lag %5.0f records %5.1fs  windows %4.0f  checkpoints %3.0f  last: %s\n",
				time.Since(start).Seconds(), p-lastProduced, in-lastIn,
				m["gale_kafka_consumer_lag"], m["gale_kafka_consumer_lag_seconds"],
				last.count(), m["gale_checkpoint_completed_total"], last.String())
			lastProduced, lastIn = p, in
		}
	}
	if err := l.Err(); err != nil {
		return err
	}
	if err := l.Stop(context.Background()); err != nil {
		return err
	}
	fmt.Fprintf(out, "stopped after %v: %d events produced, %.0f window results\n", time.Since(start).Round(time.Second), produced.Load(), last.count())
	return nil
}

// Click is one generated event.
type Click struct {
	User     string `json:"user"`
	Page     string `json:"page"`
	Referrer string `json:"referrer,omitempty"`
	TimeMS   int64  `json:"ts"`
}

var pages = []string{"/", "/search", "/cart", "/checkout", "/account", "/help",
	"/products/1", "/products/2", "/products/3", "/products/4", "/products/5",
	"/products/6", "/products/7", "/products/8", "/products/9", "/products/10"}

var referrers = []string{"", "", "", "google", "newsletter", "ads", "social"}

// produce writes rate click events a second until ctx ends. Events are keyed
// by user; their times lag up to two seconds behind the clock, so they
// arrive somewhat out of order, as real clicks do.
func produce(ctx context.Context, w *kafka.Writer, rate int, n *atomic.Int64, log *slog.Logger) {
	rng := rand.New(rand.NewPCG(1, 2))
	users := rand.NewZipf(rng, 1.2, 1, 4999)
	popular := rand.NewZipf(rng, 1.1, 1, uint64(len(pages)-1))
	const every = 50 * time.Millisecond
	perTick := max(1, rate*int(every)/int(time.Second))
	tick := time.NewTicker(every)
	defer tick.Stop()
	msgs := make([]kafka.Message, perTick)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		for i := range msgs {
			at := now.Add(-time.Duration(rng.Int64N(int64(2 * time.Second))))
			c := Click{User: fmt.Sprintf("user-%d", users.Uint64()), Page: pages[popular.Uint64()], Referrer: referrers[rng.IntN(len(referrers))], TimeMS: at.UnixMilli()}
			v, _ := json.Marshal(c)
			msgs[i] = kafka.Message{Key: []byte(c.User), Value: v, Time: at}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			if ctx.Err() == nil {
				log.Warn("produce click events", "err", err)
			}
			continue
		}
		n.Add(int64(len(msgs)))
	}
}

func buildTopology(cfg Config, brokers []string, last *lastResult) (*topology.Topology, error) {
	b := topology.NewBuilder("clicks")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, CheckpointInterval: time.Second})
	b.SetSpout("kafka", kafkaspout.New(kafkaspout.Config{
		Brokers: brokers, Topics: []string{cfg.Topic}, Start: kafkaspout.Earliest,
	}), 2).EventTime(kafkaspout.EventTime(2 * time.Second))
	b.SetBolt("parse", topology.BasicFunc(parseClick).Factory(), 2).ShuffleFrom("kafka").Output("page", "ts")
	b.SetBolt("count", window.Count(window.Config{
		KeyFields:   []string{"page"},
		Assigner:    window.Tumbling(cfg.Window),
		TimeField:   "ts",
		InputFields: []string{"page", "ts"},
	}), 2).FieldsFrom("parse", "page")
	b.SetBolt("sink", kafkasink.New(kafkasink.Config{
		Brokers: brokers, Topic: cfg.OutTopic,
		Map: func(t topology.Tuple) (kafkasink.Message, error) {
			v, err := json.Marshal(map[string]any{
				"page": t.String("page"), "window_start": t.Value(1), "window_end": t.Value(2), "count": t.Int64("count"),
			})
			return kafkasink.Message{Key: []byte(t.String("page")), Value: v}, err
		},
	}), 1).ShuffleFrom("count").Tick(100 * time.Millisecond)
	b.SetBolt("last", last.factory(), 1).GlobalFrom("count")
	return b.Build()
}

// parseClick turns a click record into (page, ts).
func parseClick(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
	raw, _ := t.Get("value")
	b, ok := raw.([]byte)
	if !ok {
		return fmt.Errorf("dev: parse: value is %T, not bytes", raw)
	}
	var c Click
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("dev: parse click: %w", err)
	}
	out.Emit(topology.Values{c.Page, c.TimeMS})
	return nil
}

// lastResult remembers the latest window result for the live line.
type lastResult struct {
	mu   sync.Mutex
	text string
	n    float64
}

func (r *lastResult) factory() topology.BoltFactory {
	return topology.BasicFunc(func(_ context.Context, t topology.Tuple, _ topology.BasicEmitter) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.n++
		r.text = fmt.Sprintf("%s [%s) %d clicks", t.String("page"), time.UnixMilli(t.Int64At(1)).Format("15:04:05"), t.Int64("count"))
		return nil
	}).Factory()
}

func (r *lastResult) count() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *lastResult) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.text == "" {
		return "(no window closed yet)"
	}
	return r.text
}

// gather sums every metric family by name, and the executed counters by
// component too ("name{component=c}").
func gather(g prometheus.Gatherer) map[string]float64 {
	out := map[string]float64{}
	mfs, err := g.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			default:
				continue
			}
			out[mf.GetName()] += v
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "component" {
					out[mf.GetName()+"{component="+lp.GetValue()+"}"] += v
				}
			}
		}
	}
	return out
}
