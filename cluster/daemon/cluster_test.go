package daemon_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gale-stream/gale/cluster/api"
	"github.com/gale-stream/gale/cluster/daemon"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/topology"
)

const token = "s3cret-token"

// builds holds one build per binary name, so each package is built once
// per test binary however many tests ask for it.
var builds sync.Map // name -> *build

type build struct {
	once sync.Once
	err  error
}

// buildBinary builds pkg (relative to this directory) into binDir/name
// once per test binary (go build's cache keeps rebuilds cheap) and returns
// the binary's path.
func buildBinary(tb testing.TB, pkg, name string) string {
	tb.Helper()
	out := filepath.Join(binDir, name)
	v, _ := builds.LoadOrStore(name, new(build))
	b := v.(*build)
	b.once.Do(func() {
		// go test puts its own GOROOT/bin first in PATH.
		if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			b.err = errors.New("go build " + pkg + ": " + err.Error() + "\n" + string(msg))
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return out
}

// binaries builds ./cmd/gale and ./examples/wordcount-cluster.
func binaries(t testing.TB) (galeBin, wcBin string) {
	t.Helper()
	return buildBinary(t, "../../cmd/gale", "gale"), buildBinary(t, "../../examples/wordcount-cluster", "wordcount-cluster")
}

type testNode struct {
	id     string
	dir    string
	cmd    *exec.Cmd
	info   daemon.Info
	log    string
	exited chan struct{}
}

// startNode runs `gale node` as a process on loopback ports it picks
// itself, and waits until it has written node.json.
func startNode(t testing.TB, galeBin, id string, seeds ...string) *testNode {
	t.Helper()
	return startNodeArgs(t, galeBin, id, nil, seeds...)
}

func startNodeArgs(t testing.TB, galeBin, id string, extra []string, seeds ...string) *testNode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n := &testNode{id: id, dir: dir, log: filepath.Join(dir, "node.log")}
	logf, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"node", "--id", id, "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--worker-grace", "5s",
		"--data-addr", freePortRange(t, 8), "--metrics-addr", "127.0.0.1:0"}
	if len(seeds) > 0 {
		args = append(args, "--seeds", strings.Join(seeds, ","))
	}
	args = append(args, extra...)
	n.cmd = exec.Command(galeBin, args...)
	// Flags through their environment equivalents, as an operator would.
	n.cmd.Env = append(os.Environ(), "GALE_TOKEN="+token, "GALE_INSECURE=true", "GALE_LOCAL_GOSSIP=true", "GALE_LOG_LEVEL=info")
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	n.exited = exited
	go func() { n.cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			n.cmd.Process.Kill()
			<-exited
			t.Errorf("node %s did not stop within 15s of SIGINT", id)
		}
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			t.Logf("log of node %s:\n%s", id, tail(string(b), 6000))
		}
	})
	waitFor(t, 15*time.Second, "node "+id+" up", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "node.json"))
		if err != nil || json.Unmarshal(b, &n.info) != nil {
			return false
		}
		return n.info.PID == n.cmd.Process.Pid
	})
	return n
}

// freePortRange returns 127.0.0.1:P such that ports P to P+n-1 were free
// a moment ago: a node's workers listen there. The ports are drawn below
// Linux's ephemeral range (32768 and up), so that no port the system hands
// out meanwhile, for a listener on port 0 or an outgoing connection, takes
// one of them.
func freePortRange(t testing.TB, n int) string {
	t.Helper()
	for range 200 {
		base := 20000 + mrand.IntN(12000-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return "127.0.0.1:" + strconv.Itoa(base)
		}
	}
	t.Fatal("no free port range")
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newClient(n *testNode, tok string) *api.Client {
	return &api.Client{BaseURL: n.info.API, Token: tok, HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// gale runs the CLI and returns its stdout, stderr and error.
func gale(t testing.TB, galeBin string, env []string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(galeBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

type wordcountResult struct {
	Topology string           `json:"topology"`
	Total    int64            `json:"total"`
	Want     int64            `json:"want"`
	Counts   map[string]int64 `json:"counts"`
}

func readResult(path string) (*wordcountResult, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var r wordcountResult
	if json.Unmarshal(b, &r) != nil {
		return nil, false
	}
	return &r, true
}

// localCounts runs the example binary in this machine's process, without
// a cluster, to get the reference counts.
func localCounts(t *testing.T, wcBin string) *wordcountResult {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(wcBin, "run", "--state-dir", dir)
	cmd.Env = append(os.Environ(), "GALE_LOG_LEVEL=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	var r *wordcountResult
	waitFor(t, 30*time.Second, "local wordcount result", func() bool {
		var ok bool
		r, ok = readResult(filepath.Join(dir, "result.json"))
		return ok && r.Total >= r.Want
	})
	return r
}

func TestCluster(t *testing.T) {
	galeBin, wcBin := binaries(t)
	n1 := startNode(t, galeBin, "n1")
	n2 := startNode(t, galeBin, "n2", n1.info.GossipAddr)
	n3 := startNode(t, galeBin, "n3", n1.info.GossipAddr)
	nodes := []*testNode{n1, n2, n3}

	// Every node sees all three alive and agrees on the coordinator.
	waitFor(t, 20*time.Second, "membership agreement", func() bool {
		coord := ""
		for _, n := range nodes {
			ms, err := newClient(n, token).Members(context.Background())
			if err != nil || len(ms.Members) != 3 {
				return false
			}
			for _, m := range ms.Members {
				if m.State != "alive" {
					return false
				}
				if m.Coordinator {
					if coord != "" && coord != m.ID {
						return false
					}
					coord = m.ID
				}
			}
		}
		return coord != ""
	})
	out, _, err := gale(t, galeBin, []string{"GALE_NODE=" + n1.info.API, "GALE_TOKEN=" + token}, "members")
	if err != nil || !strings.Contains(out, "n1") || !strings.Contains(out, "n2") || !strings.Contains(out, "n3") || !strings.Contains(out, "coordinator") {
		t.Fatalf("gale members: %v\n%s", err, out)
	}

	want := localCounts(t, wcBin)
	if want.Total != want.Want || want.Total == 0 {
		t.Fatalf("local run counted %d words, want %d", want.Total, want.Want)
	}
	t.Run("SubmitRunsWordCount", func(t *testing.T) { testSubmitRuns(t, galeBin, wcBin, nodes, want) })
	t.Run("TwoWorkersAndRebalance", func(t *testing.T) { testTwoWorkers(t, galeBin, wcBin, nodes, want) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, galeBin, wcBin, n1) })
	t.Run("CLIErrors", func(t *testing.T) { testCLIErrors(t, galeBin, n2) })
	t.Run("SignedBinaries", func(t *testing.T) { testSigned(t, galeBin, wcBin, n1, want) })
	// Last: it kills a node.
	t.Run("Failover", func(t *testing.T) { testFailover(t, galeBin, wcBin, nodes, want) })
}

func testSubmitRuns(t *testing.T, galeBin, wcBin string, nodes []*testNode, want *wordcountResult) {
	// Submit through the second node: the worker may land on any node,
	// which then fetches the binary from a peer.
	out, errOut, err := gale(t, galeBin, []string{"GALE_TOKEN=" + token}, "submit", wcBin, "--node", nodes[1].info.API, "--name", "wc", "--workers", "1")
	if err != nil {
		t.Fatalf("gale submit: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "submitted wc: 1 workers") {
		t.Fatalf("gale submit printed %q", out)
	}
	sum, err := api.FileSHA256(wcBin)
	if err != nil {
		t.Fatal(err)
	}

	var st *api.Status
	waitFor(t, 20*time.Second, "worker running", func() bool {
		st, err = newClient(nodes[0], token).Status(context.Background(), "wc")
		return err == nil && len(st.Assigned) == 1 && st.Assigned[0].Process != nil && st.Assigned[0].Process.State == "running"
	})
	if st.BinarySHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("status binary %s, want %x", st.BinarySHA256, sum)
	}
	var runner *testNode
	for _, n := range nodes {
		if n.id == st.Assigned[0].Node {
			runner = n
		}
	}
	if runner == nil {
		t.Fatalf("worker placed on unknown node %q", st.Assigned[0].Node)
	}
	// The runner holds the binary under its hash, verified.
	if _, err := os.Stat(filepath.Join(runner.dir, "binaries", hex.EncodeToString(sum[:]))); err != nil {
		t.Errorf("node %s runs the worker but does not store the binary: %v", runner.id, err)
	}

	var got *wordcountResult
	resultPath := filepath.Join(runner.dir, "workers", "wc", "0", "state", "result.json")
	waitFor(t, 30*time.Second, "worker result "+resultPath, func() bool {
		var ok bool
		got, ok = readResult(resultPath)
		return ok && got.Total >= want.Want
	})
	if got.Topology != "wc" {
		t.Errorf("worker ran topology %q, want wc", got.Topology)
	}
	checkCounts(t, got, want)
	// The worker's log is kept.
	if b, err := os.ReadFile(st.Assigned[0].Process.Log); err != nil || !strings.Contains(string(b), "wordcount done") {
		t.Errorf("worker log %s: %v\n%s", st.Assigned[0].Process.Log, err, b)
	}

	out, _, err = gale(t, galeBin, []string{"GALE_NODE=" + nodes[2].info.API, "GALE_TOKEN=" + token}, "list")
	if err != nil || !strings.Contains(out, "wc") {
		t.Errorf("gale list: %v\n%s", err, out)
	}
	out, _, err = gale(t, galeBin, []string{"GALE_NODE=" + nodes[2].info.API, "GALE_TOKEN=" + token}, "status", "wc")
	if err != nil || !strings.Contains(out, "running") || !strings.Contains(out, runner.id) || !strings.Contains(out, "EXECUTED/S") {
		t.Errorf("gale status: %v\n%s", err, out)
	}
	// The figures come from the worker's /metrics, through the node that
	// runs it: the count bolt executed every word exactly once.
	stats, err := newClient(nodes[2], token).StatusWithStats(context.Background(), "wc")
	if err != nil || len(stats.Assigned) != 1 || stats.Assigned[0].Process == nil {
		t.Fatalf("status with stats: %+v %v", stats, err)
	}
	var executed float64
	for _, c := range stats.Assigned[0].Process.Components {
		if c.Component == "count" {
			executed = c.Executed
		}
	}
	if executed != float64(want.Want) {
		t.Errorf("count executed %v tuples, want %d (figures %+v, error %q)", executed, want.Want, stats.Assigned[0].Process.Components, stats.Assigned[0].Process.StatsError)
	}

	// Prometheus discovery on any node lists every node and the worker, and
	// the worker's target serves the runtime's metrics.
	checkDiscovery(t, nodes, "wc", runner.id)

	// Kill: the worker process stops, and the topology is gone everywhere.
	pid := st.Assigned[0].Process.PID
	if out, errOut, err := gale(t, galeBin, []string{"GALE_NODE=" + nodes[0].info.API, "GALE_TOKEN=" + token}, "kill", "wc"); err != nil {
		t.Fatalf("gale kill: %v\n%s%s", err, out, errOut)
	}
	waitFor(t, 20*time.Second, "workers stopped on every node", func() bool {
		for _, n := range nodes {
			ws, err := newClient(n, token).Workers(context.Background())
			if err != nil || len(ws) != 0 {
				return false
			}
		}
		return true
	})
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("worker process %d still exists after kill", pid)
	}
	_, err = newClient(nodes[1], token).Status(context.Background(), "wc")
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("status after kill: %v, want not found", err)
	}
}

// upload posts body as a binary, returning the status code and error text.
func upload(t *testing.T, n *testNode, tok string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.info.API+"/v1/topologies?name=bad", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// As api.Client does: a refused request is answered before the body is
	// sent, instead of the server closing the connection mid-upload.
	req.Header.Set("Expect", "100-continue")
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 5 * time.Second}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if err := json.Unmarshal(b, &e); err != nil {
		t.Errorf("error body is not JSON: %q", b)
	}
	return resp.StatusCode, e.Error
}

func storedFiles(t *testing.T, n *testNode) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(n.dir, "binaries"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func testBadInput(t *testing.T, galeBin, wcBin string, n *testNode) {
	wc, err := os.ReadFile(wcBin)
	if err != nil {
		t.Fatal(err)
	}
	before := storedFiles(t, n)
	otherArch := bytes.Clone(wc)
	// e_machine, at offset 18 of the ELF header: claim arm64 (or amd64 on
	// an arm64 machine).
	machine := uint16(183)
	if goruntime.GOARCH == "arm64" {
		machine = 62
	}
	binary.LittleEndian.PutUint16(otherArch[18:], machine)
	gal, err := os.ReadFile(galeBin)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		tok      string
		body     []byte
		hdr      map[string]string
		code     int
		contains string
	}{
		{"missing token", "", wc, nil, http.StatusUnauthorized, "token"},
		{"wrong token", "nope", wc, nil, http.StatusUnauthorized, "token"},
		{"hash mismatch", token, wc, map[string]string{api.HeaderSHA256: strings.Repeat("ab", 32)}, http.StatusUnprocessableEntity, "sha256 mismatch"},
		{"other platform", token, otherArch, nil, http.StatusUnprocessableEntity, "this node is " + goruntime.GOOS + "/" + goruntime.GOARCH},
		{"windows binary", token, append([]byte("MZ\x90\x00"), make([]byte, 100)...), nil, http.StatusUnprocessableEntity, "Windows"},
		{"script", token, []byte("#!/bin/sh\necho hi\n"), nil, http.StatusUnprocessableEntity, "script"},
		{"not a topology", token, gal, nil, http.StatusUnprocessableEntity, "not a gale topology"},
		{"empty", token, nil, nil, http.StatusUnprocessableEntity, "empty upload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := upload(t, n, c.tok, c.body, c.hdr)
			if code != c.code || !strings.Contains(msg, c.contains) {
				t.Errorf("got %d %q, want %d and a message containing %q", code, msg, c.code, c.contains)
			}
		})
	}
	after := storedFiles(t, n)
	if strings.Join(before, ",") != strings.Join(after, ",") {
		t.Errorf("refused uploads changed the store: before %v, after %v", before, after)
	}
	if ts, err := newClient(n, token).List(context.Background()); err != nil || len(ts) != 0 {
		t.Errorf("topologies after refused uploads: %v, %v", ts, err)
	}
}

func testCLIErrors(t *testing.T, galeBin string, n *testNode) {
	cases := []struct {
		name     string
		env      []string
		args     []string
		contains string
	}{
		{"wrong token", []string{"GALE_TOKEN=wrong"}, []string{"list", "--node", n.info.API}, "refused the token"},
		{"missing token", []string{"GALE_TOKEN="}, []string{"list", "--node", n.info.API}, "requires a token"},
		{"submit wrong token", []string{"GALE_TOKEN=wrong"}, []string{"submit", galeBin, "--node", n.info.API}, "refused the token"},
		{"submit missing binary", []string{"GALE_TOKEN=" + token}, []string{"submit", "/nonexistent/topo", "--node", n.info.API}, "no such file"},
		{"unreachable", nil, []string{"members", "--node", "http://127.0.0.1:1"}, "cannot reach a gale node at http://127.0.0.1:1"},
		{"unknown topology", []string{"GALE_TOKEN=" + token}, []string{"status", "nosuch", "--node", n.info.API}, `unknown topology "nosuch"`},
		{"kill unknown", []string{"GALE_TOKEN=" + token}, []string{"kill", "nosuch", "--node", n.info.API}, `unknown topology "nosuch"`},
		{"rebalance unknown", []string{"GALE_TOKEN=" + token}, []string{"rebalance", "nosuch", "--workers", "2", "--node", n.info.API}, `unknown topology "nosuch"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, err := gale(t, galeBin, c.env, c.args...)
			if err == nil || !strings.Contains(errOut, c.contains) {
				t.Errorf("err %v, stderr %q; want failure mentioning %q", err, errOut, c.contains)
			}
		})
	}
}

func checkCounts(t *testing.T, got, want *wordcountResult) {
	t.Helper()
	if got.Total != want.Want {
		t.Errorf("cluster counted %d words, want %d", got.Total, want.Want)
	}
	if len(got.Counts) != len(want.Counts) {
		t.Errorf("cluster counted %d distinct words, local run %d", len(got.Counts), len(want.Counts))
	}
	bad := 0
	for w, n := range want.Counts {
		if got.Counts[w] != n {
			if bad++; bad <= 10 {
				t.Errorf("word %q: cluster %d, local %d", w, got.Counts[w], n)
			}
		}
	}
}

// replicatedAndAgreed reports whether every node stores the binary and
// all agree on the assignment epoch, so that any of them can take over a
// worker.
func replicatedAndAgreed(nodes []*testNode, binarySHA256 string) bool {
	epoch := uint64(0)
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(n.dir, "binaries", binarySHA256)); err != nil {
			return false
		}
		ms, err := newClient(n, token).Members(context.Background())
		if err != nil || (epoch != 0 && ms.Epoch != epoch) {
			return false
		}
		epoch = ms.Epoch
	}
	return true
}

func nodeByID(t testing.TB, nodes []*testNode, id string) *testNode {
	t.Helper()
	for _, n := range nodes {
		if n.id == id {
			return n
		}
	}
	t.Fatalf("unknown node %q", id)
	return nil
}

// resultOf sums the result files of the topology's workers as placed in
// st, and reports whether every worker has written one.
func resultOf(t *testing.T, nodes []*testNode, st *api.Status) (*wordcountResult, bool) {
	t.Helper()
	sum := &wordcountResult{Counts: map[string]int64{}}
	for _, w := range st.Assigned {
		n := nodeByID(t, nodes, w.Node)
		r, ok := readResult(filepath.Join(n.dir, "workers", st.Name, strconv.Itoa(w.Index), "state", "result.json"))
		if !ok {
			return sum, false
		}
		sum.Total += r.Total
		sum.Want = r.Want
		for k, v := range r.Counts {
			sum.Counts[k] += v
		}
	}
	return sum, true
}

// testTwoWorkers runs the word count in two worker processes linked over
// TCP, then rebalances it into one.
func testTwoWorkers(t *testing.T, galeBin, wcBin string, nodes []*testNode, want *wordcountResult) {
	env := []string{"GALE_TOKEN=" + token, "GALE_NODE=" + nodes[2].info.API}
	if out, errOut, err := gale(t, galeBin, env, "submit", wcBin, "--name", "wc2", "--workers", "2", "--config", `{"max_spout_pending": 321}`); err != nil {
		t.Fatalf("gale submit: %v\n%s%s", err, out, errOut)
	}
	c := newClient(nodes[0], token)
	var st *api.Status
	var err error
	waitFor(t, 20*time.Second, "two workers running", func() bool {
		st, err = c.Status(context.Background(), "wc2")
		if err != nil || len(st.Assigned) != 2 {
			return false
		}
		for _, w := range st.Assigned {
			if w.Process == nil || w.Process.State != "running" {
				return false
			}
		}
		return true
	})
	var got *wordcountResult
	waitFor(t, 40*time.Second, "two workers' counts", func() bool {
		var ok bool
		got, ok = resultOf(t, nodes, st)
		return ok && got.Total >= want.Want
	})
	checkCounts(t, got, want)
	// The workers run with the configuration as submitted.
	for _, w := range st.Assigned {
		a, err := supervisor.ReadAssignment(filepath.Join(filepath.Dir(w.Process.Log), "assignment.json"))
		if err != nil {
			t.Fatal(err)
		}
		var sc topology.SpecConfig
		if err := json.Unmarshal(a.Config, &sc); err != nil || sc.MaxSpoutPending != 321 || sc.Workers != 2 {
			t.Errorf("worker %d runs with config %+v (%v), want the submitted max_spout_pending 321 and 2 workers", w.Index, sc, err)
		}
	}
	if st.Assigned[0].Tasks == 0 || st.Assigned[1].Tasks == 0 {
		t.Errorf("a worker runs no task: %+v", st.Assigned)
	}
	t.Logf("wc2 workers on %s and %s", st.Assigned[0].Node, st.Assigned[1].Node)

	// Rebalance into one worker: the topology restarts in one process,
	// which counts everything again.
	out, errOut, err := gale(t, galeBin, env, "rebalance", "wc2", "--workers", "1")
	if err != nil || !strings.Contains(out, "rebalanced wc2: 1 workers") {
		t.Fatalf("gale rebalance: %v\n%s%s", err, out, errOut)
	}
	oldPIDs := []int{st.Assigned[0].Process.PID, st.Assigned[1].Process.PID}
	waitFor(t, 20*time.Second, "one new worker running", func() bool {
		st, err = c.Status(context.Background(), "wc2")
		if err != nil || len(st.Assigned) != 1 || st.Assigned[0].Process == nil || st.Assigned[0].Process.State != "running" {
			return false
		}
		return st.Assigned[0].Process.PID != oldPIDs[0] && st.Assigned[0].Process.PID != oldPIDs[1]
	})
	for _, pid := range oldPIDs {
		waitFor(t, 10*time.Second, "old worker process gone", func() bool { return syscall.Kill(pid, 0) != nil })
	}
	path := filepath.Join(nodeByID(t, nodes, st.Assigned[0].Node).dir, "workers", "wc2", "0", "state", "result.json")
	waitFor(t, 40*time.Second, "rebalanced worker's counts", func() bool {
		var ok bool
		got, ok = readResult(path)
		return ok && got.Total >= want.Want
	})
	checkCounts(t, got, want)
	if out, errOut, err := gale(t, galeBin, env, "kill", "wc2"); err != nil {
		t.Fatalf("gale kill: %v\n%s%s", err, out, errOut)
	}
}

// testFailover kills (SIGKILL) the node that runs a topology's worker: the
// worker dies with it, the coordinator places it on a surviving node, which
// fetches the binary if it lacks it and starts the worker, and the counts
// come out exact again.
func testFailover(t *testing.T, galeBin, wcBin string, nodes []*testNode, want *wordcountResult) {
	env := []string{"GALE_TOKEN=" + token, "GALE_NODE=" + nodes[0].info.API}
	if out, errOut, err := gale(t, galeBin, env, "submit", wcBin, "--name", "wc3", "--workers", "1"); err != nil {
		t.Fatalf("gale submit: %v\n%s%s", err, out, errOut)
	}
	st := waitRunning(t, nodes, "wc3", "")
	victim := nodeByID(t, nodes, st.Assigned[0].Node)
	// Every node keeps a copy of the binary, and all agree on the
	// assignment, before the node running the worker is killed.
	waitFor(t, 20*time.Second, "binary replicated and assignment agreed", func() bool {
		return replicatedAndAgreed(nodes, st.BinarySHA256)
	})
	pid := st.Assigned[0].Process.PID
	t.Logf("killing node %s (pid %d), which runs worker pid %d", victim.id, victim.cmd.Process.Pid, pid)
	victim.cmd.Process.Kill()
	<-victim.exited
	waitFor(t, 10*time.Second, "worker dies with its node", func() bool { return syscall.Kill(pid, 0) != nil })
	var survivors []*testNode
	for _, n := range nodes {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	st = waitRunning(t, survivors, "wc3", victim.id)
	path := filepath.Join(nodeByID(t, survivors, st.Assigned[0].Node).dir, "workers", "wc3", "0", "state", "result.json")
	var got *wordcountResult
	waitFor(t, 40*time.Second, "counts after failover", func() bool {
		var ok bool
		got, ok = readResult(path)
		return ok && got.Total >= want.Want
	})
	checkCounts(t, got, want)
	ms, err := newClient(survivors[0], token).Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms.Members {
		if m.ID == victim.id && m.State != "dead" {
			t.Errorf("killed node %s is %s", m.ID, m.State)
		}
	}
}

// waitRunning waits until a node of nodes reports the topology's single
// worker running on a node other than avoid.
func waitRunning(t *testing.T, nodes []*testNode, name, avoid string) *api.Status {
	t.Helper()
	var st *api.Status
	waitFor(t, 30*time.Second, name+" running", func() bool {
		for _, n := range nodes {
			var err error
			st, err = newClient(n, token).Status(context.Background(), name)
			if err == nil && len(st.Assigned) == 1 && st.Assigned[0].Node != avoid && st.Assigned[0].Process != nil && st.Assigned[0].Process.State == "running" {
				return true
			}
		}
		return false
	})
	return st
}

// testSigned runs a node that trusts an ed25519 key: an unsigned binary is
// refused, one signed by another key too, and a signed one runs, whether
// `gale submit` or the program itself (gale.Main's submit) uploads it.
func testSigned(t *testing.T, galeBin, wcBin string, seed *testNode, want *wordcountResult) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	pubFile, privFile, otherFile := filepath.Join(dir, "pub"), filepath.Join(dir, "priv"), filepath.Join(dir, "other")
	os.WriteFile(pubFile, []byte(hex.EncodeToString(pub)), 0o600)
	os.WriteFile(privFile, []byte(base64.StdEncoding.EncodeToString(priv.Seed())), 0o600)
	os.WriteFile(otherFile, []byte(hex.EncodeToString(otherPriv.Seed())), 0o600)
	// A node of its own (not joined, with no slots elsewhere): it runs
	// what it accepts.
	n := startNodeArgs(t, galeBin, "signed", []string{"--trusted-key", pubFile})
	env := []string{"GALE_TOKEN=" + token, "GALE_NODE=" + n.info.API}
	_, errOut, err := gale(t, galeBin, env, "submit", wcBin)
	if err == nil || !strings.Contains(errOut, "accepts only signed binaries") {
		t.Errorf("unsigned submit: %v %q", err, errOut)
	}
	_, errOut, err = gale(t, galeBin, env, "submit", wcBin, "--sign-key", otherFile)
	if err == nil || !strings.Contains(errOut, "does not verify") {
		t.Errorf("submit signed by another key: %v %q", err, errOut)
	}
	if len(storedFiles(t, n)) != 0 {
		t.Errorf("refused binaries stored: %v", storedFiles(t, n))
	}
	// The program submits itself, signed.
	cmd := exec.Command(wcBin, "submit", "--node", n.info.API, "--name", "signed-wc", "--sign-key", privFile)
	cmd.Env = append(os.Environ(), "GALE_TOKEN="+token)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "submitted signed-wc") {
		t.Fatalf("program submit: %v\n%s", err, out)
	}
	path := filepath.Join(n.dir, "workers", "signed-wc", "0", "state", "result.json")
	var got *wordcountResult
	waitFor(t, 40*time.Second, "signed topology's counts", func() bool {
		var ok bool
		got, ok = readResult(path)
		return ok && got.Total >= want.Want
	})
	checkCounts(t, got, want)
	_ = seed
}

type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func checkDiscovery(t *testing.T, nodes []*testNode, topo, runner string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var groups []sdGroup
	var workerAddr string
	waitFor(t, 10*time.Second, "discovery of every node and the worker", func() bool {
		resp, err := c.Get("http://" + nodes[2].info.Metrics + "/prometheus/sd")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		groups = nil
		if json.NewDecoder(resp.Body).Decode(&groups) != nil {
			return false
		}
		roles := map[string]int{}
		workerAddr = ""
		for _, g := range groups {
			roles[g.Labels["__meta_gale_role"]] += len(g.Targets)
			if g.Labels["__meta_gale_topology"] == topo && g.Labels["__meta_gale_node"] == runner && len(g.Targets) == 1 {
				workerAddr = g.Targets[0]
			}
		}
		return roles["node"] == len(nodes) && workerAddr != ""
	})
	resp, err := c.Get("http://" + workerAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte("gale_executor_emitted_tuples_total")) {
		t.Errorf("worker target %s serves no runtime metrics:\n%.300s", workerAddr, b)
	}
	// The runner's own page carries the cluster and supervisor metrics.
	resp, err = c.Get("http://" + nodeByID(t, nodes, runner).info.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ = io.ReadAll(resp.Body)
	for _, name := range []string{"gale_cluster_members", `gale_cluster_workers_running{topology="` + topo + `"} 1`} {
		if !bytes.Contains(b, []byte(name)) {
			t.Errorf("node /metrics lacks %s", name)
		}
	}
}
