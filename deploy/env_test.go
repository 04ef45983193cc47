package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/bolts/kafkasink"
	"github.com/gale-stream/gale/cluster"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/internal/obs"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/runtime/transport"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// Names the environment runs under.
const (
	wordsTopology  = "words"     // gen.Sentences → split → count, plus a flaky bolt
	clicksTopology = "clicks"    // Kafka spout → a bolt that acks
	clicksTopic    = "clicks"    // the topic the Kafka spout reads
	sessionsTopic  = "sessions"  // the topic the Kafka sink writes
	nodeID         = "node-1"    // the cluster node, and the node label of the live target
	goneNodeID     = "node-gone" // the node label of a discovered target nobody serves
)

// tool returns the path of a Prometheus binary (prometheus or promtool).
// When it is missing the test fails in CI and skips elsewhere.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (%v): install the Debian package prometheus (apt-get install -y prometheus)", name, err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// flaky is a bolt that fails every 50th word it sees and returns an error
// for it, so failure, error and replay metrics carry real, non-zero data.
// Each sentence has 10 words, so about a fifth of the tuple trees fail.
func flaky() topology.BoltFactory {
	return func() topology.Bolt {
		var n atomic.Int64
		return topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
			if n.Add(1)%50 == 0 {
				return errors.New("flaky: every 50th word fails")
			}
			out.Ack(t)
			return nil
		})
	}
}

// wordsBuilder is the word count the issue names (gen.Sentences →
// bolts.Split → bolts.Count, at least once), plus the flaky bolt. limit
// bounds the sentences per spout task (0: unlimited); rate bounds them per
// second (0: unlimited).
func wordsBuilder(limit int64, rate float64) *topology.Builder {
	b := topology.NewBuilder(wordsTopology)
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce, MessageTimeout: 10 * time.Second})
	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{Seed: 7, Limit: limit, Rate: rate, Reliable: true, Batch: 16}), 1)
	b.SetBolt("split", bolts.Split(" "), 2).ShuffleFrom("sentences")
	b.SetBolt("count", bolts.Count("word", bolts.Into(bolts.NewCounts()), bolts.Silent()), 2).FieldsFrom("split", "word")
	b.SetBolt("flaky", flaky(), 1).ShuffleFrom("split")
	return b
}

// clicksBuilder reads the clicks topic with the Kafka spout and writes every
// record to the sessions topic with the Kafka sink.
func clicksBuilder(brokers []string, reg prometheus.Registerer) *topology.Builder {
	b := topology.NewBuilder(clicksTopology)
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce, MessageTimeout: 10 * time.Second})
	b.SetSpout("kafka", kafkaspout.New(kafkaspout.Config{
		Brokers: brokers, Topics: []string{clicksTopic}, Registerer: reg,
		CommitInterval: 200 * time.Millisecond, LagInterval: 200 * time.Millisecond,
		FetchMaxWait: 50 * time.Millisecond, MetadataInterval: time.Second,
	}), 1)
	b.SetBolt("sessions", topology.BoltFunc(func(_ context.Context, t topology.Tuple, out topology.Emitter) error {
		out.Emit(topology.Values{t.Bytes("key"), t.Bytes("value")}, t)
		out.Ack(t)
		return nil
	}).Factory(), 2).FieldsFrom("kafka", "key").Output("key", "value")
	b.SetBolt("sink", kafkasink.New(kafkasink.Config{
		Brokers: brokers, Topic: sessionsTopic, Registerer: reg, BatchSize: 50, Linger: 20 * time.Millisecond,
	}), 1).ShuffleFrom("sessions").Tick(20 * time.Millisecond)
	return b
}

// env is everything a gale node would run, in this process, with one
// registry behind one metrics server.
type env struct {
	reg *prometheus.Registry
	srv *obs.Server
	// goneAddr is a discovered target address nothing listens on.
	goneAddr string
	kafka    *kafkatest.Cluster
	// stopProducing stops the clicks producer and waits for it.
	stopProducing func()
}

// startEnv starts the environment; the test's cleanup stops it, in reverse
// order, and fails the test if a part does not stop cleanly.
func startEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	logger := quietLogger(t)
	e := &env{reg: prometheus.NewRegistry()}
	// A node process exports Go and process metrics too; promtool checks them.
	e.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The word count, rate limited so it runs for the whole test.
	words, err := wordsBuilder(0, 300).Build()
	if err != nil {
		t.Fatal(err)
	}
	startTopology(t, words, e.reg, logger)

	// Kafka: a broker, a producer that keeps writing, and the spout topology.
	e.kafka = kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{clicksTopic: 3, sessionsTopic: 1}})
	if err := e.kafka.ProduceN(ctx, clicksTopic, 3, 200, 64); err != nil {
		t.Fatal(err)
	}
	produceCtx, stopProducing := context.WithCancel(context.Background())
	var producing sync.WaitGroup
	producing.Go(func() { produce(produceCtx, t, e.kafka) })
	e.stopProducing = func() { stopProducing(); producing.Wait() }
	t.Cleanup(e.stopProducing)
	clicks, err := clicksBuilder(e.kafka.Addrs(), e.reg).Build()
	if err != nil {
		t.Fatal(err)
	}
	startTopology(t, clicks, e.reg, logger)

	// A one-node cluster: membership, coordinator and assignment metrics.
	node, err := cluster.Start(ctx, cluster.Config{
		NodeID: nodeID, Insecure: true, Logger: logger, Registerer: e.reg,
		Memberlist: cluster.LocalGossip, ReconcileInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := node.Shutdown(); err != nil {
			t.Errorf("cluster node shutdown: %v", err)
		}
	})

	// The node's worker supervisor, running a worker of the word count
	// whose process crashes 300ms after every start: restarts and running
	// workers are real.
	startCrashingWorker(t, e.reg, logger)

	// A state store taking a checkpoint twice a second. The runtime does not
	// drive checkpoints yet (exactly-once is being built); this drives the
	// store the way a worker will, so the checkpoint panels and alert see
	// the metrics the state package really exports.
	startCheckpoints(t, e.reg, logger)

	// A target that discovery lists but nobody serves: a node that died.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.goneAddr = ln.Addr().String()
	ln.Close()

	// A transport link to a worker on that node: it keeps failing to dial
	// and reconnecting, as a link to a dead peer does. (The runtime does not
	// use the transport in one process; this is the transport metrics' only
	// source here, and the sent/received series stay at 0.)
	link, err := transport.NewClient(e.goneAddr, transport.Options{
		Topology: wordsTopology, Logger: logger, Registerer: e.reg,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = link.Close() })

	e.srv, err = obs.Listen("127.0.0.1:0", obs.NewHandler(e.reg, e.targets), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(sctx); err != nil {
			t.Errorf("metrics server shutdown: %v", err)
		}
	})
	return e
}

// targets is what this node's discovery endpoint lists: itself, running
// both topologies, and a worker on a node that is gone.
func (e *env) targets() []obs.Target {
	return []obs.Target{
		obs.NodeTarget(e.srv.Addr(), nodeID),
		obs.WorkerTarget(e.goneAddr, goneNodeID, wordsTopology, 1),
	}
}

func startTopology(t *testing.T, topo *topology.Topology, reg prometheus.Registerer, logger *slog.Logger) *runtime.Local {
	t.Helper()
	l, err := runtime.Start(t.Context(), topo, runtime.Options{Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Stop(context.Background()); err != nil {
			t.Errorf("stop %s: %v", topo.Name(), err)
		}
	})
	return l
}

// produce writes a few records to every partition of the clicks topic every
// 100ms until ctx ends, so consumption rates and lag move.
func produce(ctx context.Context, t *testing.T, c *kafkatest.Cluster) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var recs []kafkatest.Record
		for p := range int32(3) {
			for j := range 10 {
				recs = append(recs, kafkatest.Record{Topic: clicksTopic, Partition: p,
					Key: fmt.Appendf(nil, "user-%d", j), Value: fmt.Appendf(nil, "click %d/%d", i, j)})
			}
		}
		if err := c.Produce(ctx, recs...); err != nil && ctx.Err() == nil {
			t.Errorf("produce: %v", err)
			return
		}
	}
}

// startCrashingWorker runs a supervisor with one worker whose binary exits
// with status 1 shortly after it starts, so the supervisor keeps restarting
// it.
func startCrashingWorker(t *testing.T, reg prometheus.Registerer, logger *slog.Logger) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "crashing-worker")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nsleep 0.3\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sup, err := supervisor.New(supervisor.Config{
		Dir: t.TempDir(), Logger: logger, Registerer: reg,
		BackoffMin: 100 * time.Millisecond, BackoffMax: 300 * time.Millisecond, Grace: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sup.Shutdown(ctx); err != nil {
			t.Errorf("supervisor shutdown: %v", err)
		}
	})
	err = sup.Apply([]supervisor.Spec{{Binary: bin, Assignment: supervisor.Assignment{
		Topology: wordsTopology, Worker: 1, Workers: 2, Node: nodeID, MaxParallelism: 128,
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

// startCheckpoints opens a state store and checkpoints it every 500ms until
// the test ends.
func startCheckpoints(t *testing.T, reg prometheus.Registerer, logger *slog.Logger) {
	t.Helper()
	store, err := state.Open(t.TempDir(), state.Options{Registerer: reg, Logger: logger, CacheSize: 8 << 20, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	storage, err := state.NewDirStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backend, err := store.Task(state.Scope{Topology: wordsTopology, Component: "count", MaxParallelism: 128,
		Groups: keygroup.Range{Start: 0, End: 128}})
	if err != nil {
		t.Fatal(err)
	}
	counter := state.NewValue[int64](backend, "n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for id := uint64(1); ; id++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			err := backend.SetCurrentKey(fmt.Appendf(nil, "key-%d", id%16))
			if err == nil {
				err = counter.Set(int64(id))
			}
			if err == nil {
				err = backend.FlushForCheckpoint(ctx, id)
			}
			if err == nil {
				_, err = store.Checkpoint(ctx, id, storage)
			}
			if err != nil && ctx.Err() == nil {
				t.Errorf("checkpoint %d: %v", id, err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := errors.Join(backend.Close(), store.Close()); err != nil {
			t.Errorf("close state store: %v", err)
		}
	})
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// counterSum sums the counter name over the series of topology topo.
func counterSum(t *testing.T, g prometheus.Gatherer, name, topo string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelValue(m, "topology") == topo {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// quietLogger logs errors only to the test's log: the flaky bolt's
// failures are expected and would drown everything else at warn level.
func quietLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
