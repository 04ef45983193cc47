package daemon_test

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gale-stream/gale/cluster/api"
	"github.com/gale-stream/gale/internal/kafkatest"
)

// The tests in this file run examples/kafkacount-cluster — a Kafka topic of
// words, counted per word in keyed state, exactly once, into a Kafka topic
// of (word, running count) — on real `gale node` processes, against a kfake
// broker in the test process, and check the output topic against the
// ground truth of what they produced.

// eoWorkers is the number of workers the exactly-once topology runs in.
const eoWorkers = 3

// kcSpoutTasks is the parallelism of the topology's Kafka spout: 2, so
// that some workers, of three and after the rebalance of four, run no
// spout task and hear of each checkpoint first through the barriers of
// other workers' spouts.
const kcSpoutTasks = 2

const (
	kcName       = "kc"
	kcInput      = "words"
	kcOutput     = "word-counts"
	kcGroup      = "gale-" + kcName
	kcPartitions = 4
	kcWords      = 40
	// kcConfig makes checkpoints frequent, so a test sees several.
	kcConfig = `{"checkpoint_interval": "200ms"}`
)

// kafkacountBinaries builds ./cmd/gale and ./examples/kafkacount-cluster.
func kafkacountBinaries(tb testing.TB) (galeBin, kcBin string) {
	tb.Helper()
	return buildBinary(tb, "../../cmd/gale", "gale"), buildBinary(tb, "../../examples/kafkacount-cluster", "kafkacount-cluster")
}

// kcCluster is a kfake broker, gale nodes whose workers reach it, and the
// ground truth of the words produced so far.
type kcCluster struct {
	tb      testing.TB
	galeBin string
	kcBin   string
	kafka   *kafkatest.Cluster
	nodes   []*testNode

	mu struct {
		sync.Mutex
		rng      *mrand.Rand
		produced int              // records produced
		truth    map[string]int64 // records produced per word
	}
	// pids are the worker processes seen, killed at the end if they
	// outlive their nodes.
	pidsMu sync.Mutex
	pids   map[int]bool
}

// startKafkaCount starts the broker and n nodes. The nodes get the broker
// and topics through the environment they pass on to their workers.
func startKafkaCount(tb testing.TB, n int) *kcCluster {
	tb.Helper()
	galeBin, kcBin := kafkacountBinaries(tb)
	c := &kcCluster{tb: tb, galeBin: galeBin, kcBin: kcBin, pids: map[int]bool{}}
	c.mu.rng = mrand.New(mrand.NewPCG(5, 1))
	c.mu.truth = map[string]int64{}
	c.kafka = kafkatest.Start(tb, kafkatest.Config{Topics: map[string]int32{kcInput: kcPartitions, kcOutput: kcPartitions}})
	tb.Setenv("KAFKACOUNT_BROKERS", strings.Join(c.kafka.Addrs(), ","))
	tb.Setenv("KAFKACOUNT_INPUT", kcInput)
	tb.Setenv("KAFKACOUNT_OUTPUT", kcOutput)
	tb.Setenv("KAFKACOUNT_SPOUT_TASKS", strconv.Itoa(kcSpoutTasks))
	// Registered before the nodes' own cleanups, so it runs after them.
	tb.Cleanup(c.killStrayWorkers)
	for i := range n {
		c.addNode(fmt.Sprintf("n%d", i+1))
	}
	// Runs before the nodes' cleanups, while their files exist.
	tb.Cleanup(c.logWorkers)
	return c
}

// logWorkers logs the end of every worker log of every node when the test
// failed.
func (c *kcCluster) logWorkers() {
	if !c.tb.Failed() {
		return
	}
	// The checkpoint and tuple counters of the workers still running.
	ws, _ := c.placement()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i, w := range ws {
		if w.MetricsAddr == "" {
			continue
		}
		resp, err := hc.Get("http://" + w.MetricsAddr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var lines []string
		for l := range strings.Lines(string(b)) {
			if strings.HasPrefix(l, "gale_checkpoint_") && !strings.Contains(l, "_bucket") ||
				strings.HasPrefix(l, "gale_executor_executed_tuples_total") || strings.HasPrefix(l, "gale_kafka_consumer_lag{") {
				lines = append(lines, l)
			}
		}
		c.tb.Logf("metrics of worker %d on %s:\n%s", i, w.Node, strings.Join(lines, ""))
	}
	for _, n := range c.nodes {
		logs, _ := filepath.Glob(filepath.Join(n.dir, "workers", "*", "*", "worker.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			c.tb.Logf("worker log %s:\n%s", l, tail(string(b), 4000))
		}
	}
}

// addNode starts a node that joins the first node still running, and
// waits until every running node sees all running nodes alive.
func (c *kcCluster) addNode(id string) *testNode {
	c.tb.Helper()
	var seeds []string
	for _, n := range c.running() {
		seeds = append(seeds, n.info.GossipAddr)
		break
	}
	n := startNode(c.tb, c.galeBin, id, seeds...)
	c.nodes = append(c.nodes, n)
	c.waitMembers()
	return n
}

// running returns the nodes whose process has not exited.
func (c *kcCluster) running() []*testNode {
	var out []*testNode
	for _, n := range c.nodes {
		select {
		case <-n.exited:
		default:
			out = append(out, n)
		}
	}
	return out
}

// waitMembers waits until every running node lists every running node as
// alive and they agree on the coordinator.
func (c *kcCluster) waitMembers() {
	c.tb.Helper()
	live := c.running()
	waitFor(c.tb, 20*time.Second, "membership agreement", func() bool {
		coord := ""
		for _, n := range live {
			ms, err := newClient(n, token).Members(context.Background())
			if err != nil {
				return false
			}
			alive := 0
			for _, m := range ms.Members {
				if m.State == "alive" && slices.ContainsFunc(live, func(l *testNode) bool { return l.id == m.ID }) {
					alive++
				}
				if m.Coordinator {
					if coord != "" && coord != m.ID {
						return false
					}
					coord = m.ID
				}
			}
			if alive != len(live) {
				return false
			}
		}
		return coord != ""
	})
}

// produce writes n words to the input topic, spread over its partitions,
// and adds them to the ground truth once the broker acknowledged them. The
// word frequencies are skewed (the minimum of two uniform draws), so the
// counts differ from word to word.
func (c *kcCluster) produce(ctx context.Context, n int) error {
	c.mu.Lock()
	recs := make([]kafkatest.Record, n)
	words := make([]string, n)
	for i := range recs {
		w := fmt.Sprintf("w%02d", min(c.mu.rng.IntN(kcWords), c.mu.rng.IntN(kcWords)))
		words[i] = w
		recs[i] = kafkatest.Record{Topic: kcInput, Partition: int32((c.mu.produced + i) % kcPartitions), Value: []byte(w)}
	}
	c.mu.produced += n
	// Held while producing, so that truth never lags what the broker has.
	defer c.mu.Unlock()
	if err := c.kafka.Produce(ctx, recs...); err != nil {
		return err
	}
	for _, w := range words {
		c.mu.truth[w]++
	}
	return nil
}

// producedCount returns the number of records produced so far.
func (c *kcCluster) producedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.produced
}

func (c *kcCluster) mustProduce(n int) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.produce(ctx, n); err != nil {
		c.tb.Fatal(err)
	}
}

// submit submits the example under kcName in the given number of workers.
func (c *kcCluster) submit(workers int) {
	c.tb.Helper()
	env := []string{"GALE_TOKEN=" + token, "GALE_NODE=" + c.running()[0].info.API}
	out, errOut, err := gale(c.tb, c.galeBin, env, "submit", c.kcBin, "--name", kcName, "--workers", strconv.Itoa(workers), "--config", kcConfig)
	if err != nil {
		c.tb.Fatalf("gale submit: %v\n%s%s", err, out, errOut)
	}
}

// kcWorker is a worker process of the topology, as the node running it
// lists it.
type kcWorker struct {
	Node string
	api.WorkerInfo
}

// placement lists the topology's worker processes on the running nodes by
// worker index. It asks every node for its own workers (GET /v1/workers)
// rather than one node for the topology's status, which fans out to the
// others. ok is false when a node did not answer or two processes claim
// one index (a placement in transition).
func (c *kcCluster) placement() (ws map[int]kcWorker, ok bool) {
	ws = map[int]kcWorker{}
	for _, n := range c.running() {
		list, err := newClient(n, token).Workers(context.Background())
		if err != nil {
			return nil, false
		}
		for _, w := range list {
			if w.Topology != kcName {
				continue
			}
			if _, dup := ws[w.Worker]; dup {
				return nil, false
			}
			ws[w.Worker] = kcWorker{Node: n.id, WorkerInfo: w}
		}
	}
	return ws, true
}

// running reports whether ws is workers running processes, indexed 0 to
// workers-1, none on a node in avoid.
func placedAndRunning(ws map[int]kcWorker, workers int, avoid ...string) bool {
	if len(ws) != workers {
		return false
	}
	for i := range workers {
		w, ok := ws[i]
		if !ok || w.State != "running" || slices.Contains(avoid, w.Node) {
			return false
		}
	}
	return true
}

// waitWorkers waits until the topology runs in workers running processes,
// none of them on a node in avoid, and returns them by index.
func (c *kcCluster) waitWorkers(d time.Duration, workers int, avoid ...string) map[int]kcWorker {
	c.tb.Helper()
	var ws map[int]kcWorker
	waitFor(c.tb, d, fmt.Sprintf("%d workers of %s running", workers, kcName), func() bool {
		var ok bool
		ws, ok = c.placement()
		return ok && placedAndRunning(ws, workers, avoid...)
	})
	c.pidsMu.Lock()
	for _, w := range ws {
		c.pids[w.PID] = true
	}
	c.pidsMu.Unlock()
	return ws
}

// waitReplicated waits until every running node stores the topology's
// binary and all agree on the assignment epoch, so that any of them can
// take over a worker.
func (c *kcCluster) waitReplicated() {
	c.tb.Helper()
	waitFor(c.tb, 20*time.Second, "binary replicated and assignment agreed", func() bool {
		ts, err := newClient(c.running()[0], token).List(context.Background())
		if err != nil {
			return false
		}
		i := slices.IndexFunc(ts, func(t api.Topology) bool { return t.Name == kcName })
		if i < 0 {
			return false
		}
		return replicatedAndAgreed(c.running(), ts[i].BinarySHA256)
	})
}

// committed returns the number of input records the topology's group has
// committed: the spout commits when a checkpoint completes, so these are the
// records covered by a complete checkpoint.
func (c *kcCluster) committed(ctx context.Context) (int64, error) {
	com, err := c.kafka.Committed(ctx, kcGroup, kcInput)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, o := range com {
		n += o
	}
	return n, nil
}

// waitCommitted waits until complete checkpoints cover at least n records.
func (c *kcCluster) waitCommitted(d time.Duration, n int64, what string) {
	c.tb.Helper()
	waitFor(c.tb, d, what, func() bool {
		got, err := c.committed(context.Background())
		return err == nil && got >= n
	})
}

// waitAllCommitted waits until a complete checkpoint covers every record
// produced: then every count is final and, since the sink flushes before a
// checkpoint completes, in the output topic.
func (c *kcCluster) waitAllCommitted(d time.Duration) {
	c.tb.Helper()
	n := int64(c.producedCount())
	c.waitCommitted(d, n, fmt.Sprintf("a complete checkpoint covering all %d records", n))
}

// outputSum returns the sum of the output topic's high watermarks: the
// records the sink has written.
func (c *kcCluster) outputSum(ctx context.Context) (int64, error) {
	hw, err := c.kafka.HighWatermarks(ctx, kcOutput)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, o := range hw {
		n += o
	}
	return n, nil
}

// checkOutput reads the output topic and checks it against the ground
// truth, as the example and kafkasink promise: for every word, the highest
// count written equals the number of its records (the keyed state counted
// every input exactly once), no count exceeds it, and every count from 1 to
// it was written at least once (nothing reached the sink fewer times than it
// should); every input record's output is there (its gale-id header).
// Duplicates are allowed: the sink is at-least-once, and outputs written
// after the restored checkpoint are written again.
func (c *kcCluster) checkOutput() {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts, err := c.kafka.Consume(ctx, kcOutput)
	if err != nil {
		c.tb.Fatal(err)
	}
	seen := map[string]map[int64]int{} // word → count → times written
	ids := map[string]bool{}
	records := 0
	for _, recs := range parts {
		for _, r := range recs {
			records++
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				c.tb.Fatalf("output record %s/%d@%d: value %q is not a count", kcOutput, r.Partition, r.Offset, r.Value)
			}
			w := string(r.Key)
			if seen[w] == nil {
				seen[w] = map[int64]int{}
			}
			seen[w][n]++
			for _, h := range r.Headers {
				if h.Key == "gale-id" {
					ids[string(h.Value)] = true
				}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			c.tb.Errorf(format, args...)
		}
	}
	dups := 0
	for w, want := range c.mu.truth {
		top := int64(0)
		for n, times := range seen[w] {
			top = max(top, n)
			dups += times - 1
		}
		if top != want {
			report("word %q: highest count written %d, want %d (the ground truth)", w, top, want)
		}
		for n := int64(1); n <= want; n++ {
			if seen[w][n] == 0 {
				report("word %q: count %d never written (want every count 1..%d)", w, n, want)
				break
			}
		}
	}
	for w := range seen {
		if c.mu.truth[w] == 0 {
			report("word %q written but never produced", w)
		}
	}
	perPart := map[int]int{}
	for i := range c.mu.produced {
		perPart[i%kcPartitions]++
	}
	missing := 0
	for p, n := range perPart {
		for off := range n {
			if !ids[fmt.Sprintf("%s/%d/%d", kcInput, p, off)] {
				missing++
			}
		}
	}
	if missing > 0 {
		report("%d of %d input records have no output record (by gale-id)", missing, c.mu.produced)
	}
	c.tb.Logf("output: %d records for %d inputs (%d duplicates), %d words", records, c.mu.produced, dups, len(seen))
}

// workerLog returns the log of worker w.
func workerLog(tb testing.TB, w kcWorker) string {
	tb.Helper()
	b, err := os.ReadFile(w.Log)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// killStrayWorkers kills worker processes of the example that outlived
// their nodes (none should).
func (c *kcCluster) killStrayWorkers() {
	c.pidsMu.Lock()
	defer c.pidsMu.Unlock()
	for pid := range c.pids {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "kafkacount-cluster") {
			continue
		}
		c.tb.Errorf("worker process %d outlived its node; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// killNode kills a node with SIGKILL and waits until its process and its
// workers' processes are gone.
func (c *kcCluster) killNode(n *testNode, ws map[int]kcWorker) {
	c.tb.Helper()
	var pids []int
	for _, w := range ws {
		if w.Node == n.id {
			pids = append(pids, w.PID)
		}
	}
	n.cmd.Process.Kill()
	<-n.exited
	waitFor(c.tb, 10*time.Second, "workers die with their node", func() bool {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				return false
			}
		}
		return true
	})
}

// memberState returns the state of member id as node n sees it.
func memberState(n *testNode, id string) string {
	ms, err := newClient(n, token).Members(context.Background())
	if err != nil {
		return ""
	}
	for _, m := range ms.Members {
		if m.ID == id {
			return m.State
		}
	}
	return ""
}

// TestFailoverExactlyOnceKafka runs the exactly-once Kafka word count in
// eoWorkers workers on three nodes, kills the node of worker 0 with SIGKILL
// mid-stream (after a checkpoint completed, with records being processed and
// more still to come), and checks that the worker moves to a survivor and
// restores the last complete checkpoint, which the dead node had written,
// and that at the end every word's count equals the ground truth and every
// count reached the output topic.
func TestFailoverExactlyOnceKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three gale nodes and kills one; runs without -short")
	}
	start := time.Now()
	c := startKafkaCount(t, 3)
	c.mustProduce(3000)
	c.submit(eoWorkers)
	before := c.waitWorkers(30*time.Second, eoWorkers)
	t.Logf("%d workers running after %v", eoWorkers, time.Since(start).Round(time.Millisecond))
	c.waitReplicated()
	c.waitCommitted(30*time.Second, 1, "a complete checkpoint covering input")
	c.mustProduce(3000)
	c.waitCommitted(30*time.Second, 3001, "a complete checkpoint covering part of the second round")
	covered, _ := c.committed(t.Context())
	// Mid-stream: checkpoints cover some records, the third round is being
	// processed, and more will come.
	c.mustProduce(2000)
	victim := nodeByID(t, c.nodes, before[0].Node)
	t.Logf("killing node %s (pid %d), which runs worker 0 (pid %d), %v after the start; checkpoints cover %d of %d records",
		victim.id, victim.cmd.Process.Pid, before[0].PID, time.Since(start).Round(time.Millisecond), covered, c.producedCount())
	killed := time.Now()
	c.killNode(victim, before)
	// Input keeps coming while the cluster notices and the work moves.
	produced := make(chan error, 1)
	go func() {
		var err error
		for range 5 {
			if err = c.produce(context.Background(), 600); err != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		produced <- err
	}()
	survivors := c.running()
	waitFor(t, 20*time.Second, "the killed node declared dead", func() bool {
		return memberState(survivors[0], victim.id) == "dead"
	})
	after := c.waitWorkers(40*time.Second, eoWorkers, victim.id)
	t.Logf("worker 0 runs on %s %v after the kill", after[0].Node, time.Since(killed).Round(time.Millisecond))
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	c.waitAllCommitted(60 * time.Second)
	t.Logf("a checkpoint covers all %d records %v after the kill", c.producedCount(), time.Since(killed).Round(time.Millisecond))
	c.checkOutput()

	// Every worker that ran on the dead node restored its state from the
	// last complete checkpoint, taken there, instead of recounting from the
	// start of the topic.
	moved := 0
	for i, w := range before {
		if w.Node != victim.id {
			continue
		}
		moved++
		if log := workerLog(t, after[i]); !strings.Contains(log, "restored checkpoint") {
			t.Errorf("worker %d, moved from %s to %s, did not restore a checkpoint; its log:\n%s", i, victim.id, after[i].Node, tail(log, 4000))
		}
	}
	if moved == 0 {
		t.Fatalf("no worker ran on the killed node %s: %+v", victim.id, before)
	}
	if err := newClient(survivors[0], token).Kill(t.Context(), kcName); err != nil {
		t.Fatal(err)
	}
}

// TestRebalanceExactlyOnceKafka runs the exactly-once Kafka word count in
// eoWorkers workers on three nodes, adds a fourth node, and rebalances the
// topology into one more worker with `gale rebalance`: a worker lands on the
// new node and restores the key groups it took over from the checkpoint, and
// the counts stay exact (nothing lost or counted twice).
func TestRebalanceExactlyOnceKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four gale nodes; runs without -short")
	}
	start := time.Now()
	c := startKafkaCount(t, 3)
	c.mustProduce(3000)
	c.submit(eoWorkers)
	before := c.waitWorkers(30*time.Second, eoWorkers)
	c.waitCommitted(30*time.Second, 3000, "a complete checkpoint covering the first round")
	t.Logf("a checkpoint covers the first round %v after the start", time.Since(start).Round(time.Millisecond))
	c.mustProduce(2000)

	n4 := c.addNode("n4")
	env := []string{"GALE_TOKEN=" + token, "GALE_NODE=" + n4.info.API}
	out, errOut, err := gale(c.tb, c.galeBin, env, "rebalance", kcName, "--workers", strconv.Itoa(eoWorkers+1))
	if err != nil || !strings.Contains(out, fmt.Sprintf("rebalanced %s: %d workers", kcName, eoWorkers+1)) {
		t.Fatalf("gale rebalance: %v\n%s%s", err, out, errOut)
	}
	c.mustProduce(2000)
	after := c.waitWorkers(40*time.Second, eoWorkers+1)
	t.Logf("%d workers running %v after the start", eoWorkers+1, time.Since(start).Round(time.Millisecond))
	onNew := -1
	for i, w := range after {
		if w.Node == n4.id {
			onNew = i
		}
	}
	if onNew < 0 {
		t.Fatalf("no worker on the new node %s after the rebalance: %+v", n4.id, after)
	}
	c.mustProduce(2000)
	c.waitAllCommitted(60 * time.Second)
	t.Logf("a checkpoint covers all %d records %v after the start", c.producedCount(), time.Since(start).Round(time.Millisecond))
	c.checkOutput()
	// The worker on the new node took over key groups checkpointed by
	// other workers on other nodes: it restored them.
	if log := workerLog(t, after[onNew]); !strings.Contains(log, "restored checkpoint") {
		t.Errorf("worker %d on the new node did not restore a checkpoint; its log:\n%s", onNew, tail(log, 4000))
	}
	for i := range eoWorkers + 1 {
		was := "none"
		if w, ok := before[i]; ok {
			was = w.Node
		}
		t.Logf("worker %d: on %s before, on %s after the rebalance", i, was, after[i].Node)
	}
	if err := newClient(n4, token).Kill(t.Context(), kcName); err != nil {
		t.Fatal(err)
	}
}
