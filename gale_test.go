package gale

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/bolts"
	"github.com/gale-stream/gale/cluster/api"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/spouts/gen"
	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sentences, words = 200, 5

func builder(counts *bolts.Counts) *topology.Builder {
	b := topology.NewBuilder("wc")
	b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{Seed: 3, WordsPerSentence: words, Limit: sentences, Reliable: true}), 1)
	b.SetBolt("split", bolts.Split(" "), 2).ShuffleFrom("sentences")
	b.SetBolt("count", bolts.Count("word", bolts.Into(counts), bolts.Silent()), 2).FieldsFrom("split", "word")
	return b
}

var quiet = WithLogger(slog.New(slog.DiscardHandler))

func TestSpec(t *testing.T) {
	var out bytes.Buffer
	if err := Run(t.Context(), builder(bolts.NewCounts()), []string{"spec"}, &out, quiet); err != nil {
		t.Fatal(err)
	}
	var s topology.Spec
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil || s.Name != "wc" || len(s.Components) != 3 {
		t.Errorf("spec %+v: %v", s, err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"spec", "x"}, {"worker"}, {"run", "--nope"}, {"submit", "extra"}} {
		err := Run(t.Context(), builder(bolts.NewCounts()), args, io.Discard, quiet)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	b := topology.NewBuilder("broken")
	b.SetBolt("orphan", bolts.Split(" "), 1).ShuffleFrom("nothing")
	if err := Run(t.Context(), b, []string{"spec"}, io.Discard, quiet); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Errorf("invalid topology: %v", err)
	}
}

func writeAssignment(t *testing.T, a supervisor.Assignment) string {
	t.Helper()
	b, _ := json.Marshal(a)
	p := filepath.Join(t.TempDir(), "assignment.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWorkerRunsTopology(t *testing.T) {
	counts := bolts.NewCounts()
	dir := t.TempDir()
	path := writeAssignment(t, supervisor.Assignment{Topology: "clicks", Worker: 0, Workers: 1, Epoch: 5, StateDir: dir, MetricsAddr: "127.0.0.1:0"})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		env     Env
		metrics string
	)
	hook := WhileRunning(func(hctx context.Context, e Env) error {
		for counts.Total() < sentences*words {
			select {
			case <-hctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
		addr, err := os.ReadFile(filepath.Join(e.StateDir, "metrics.addr"))
		if err == nil {
			if resp, err := http.Get("http://" + string(addr) + "/metrics"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				metrics = string(b)
				mu.Unlock()
			}
		}
		mu.Lock()
		env = e
		mu.Unlock()
		cancel()
		return nil
	})
	t.Setenv(supervisor.EnvAssignment, path)
	if err := Run(ctx, builder(counts), []string{"worker"}, io.Discard, quiet, hook); err != nil {
		t.Fatal(err)
	}
	if got := counts.Total(); got != sentences*words {
		t.Errorf("counted %d words, want %d", got, sentences*words)
	}
	mu.Lock()
	defer mu.Unlock()
	if env.Mode != ModeWorker || env.StateDir != dir || env.Assignment == nil || env.Assignment.Epoch != 5 || env.Assignment.Topology != "clicks" {
		t.Errorf("env %+v", env)
	}
	if !strings.Contains(metrics, "gale_executor") {
		t.Errorf("worker /metrics lacks runtime metrics:\n%.500s", metrics)
	}
}

// freeAddrs reserves n loopback addresses.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// TestTwoWorkers runs the topology in two worker "processes" (two Run
// calls) built from assignments the way a node writes them: each counts
// its share, and together they count every word once.
func TestTwoWorkers(t *testing.T) {
	topo, err := builder(bolts.NewCounts()).Build()
	if err != nil {
		t.Fatal(err)
	}
	// Alternate components between the workers, as blocks of tasks.
	peers := []supervisor.Peer{{Worker: 0, Epoch: 3}, {Worker: 1, Epoch: 4}}
	for i, c := range topo.Spec().Components {
		peers[i%2].Tasks = append(peers[i%2].Tasks, supervisor.TaskBlock{Component: string(c.ID), First: 0, Count: len(c.Tasks), FirstTask: int32(c.Tasks[0])})
	}
	addrs := freeAddrs(t, 2)
	for i := range peers {
		peers[i].DataAddr = addrs[i]
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	counts := []*bolts.Counts{bolts.NewCounts(), bolts.NewCounts()}
	errs := make(chan error, 2)
	for w := range 2 {
		a := supervisor.Assignment{Topology: "wc", Worker: w, Workers: 2, Epoch: peers[w].Epoch, StateDir: t.TempDir(), Peers: peers, Token: "secret"}
		plan, err := WorkerPlan(&a)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Epoch != 4 || plan.Workers[w] != addrs[w] || len(plan.Tasks) != topo.NumTasks() {
			t.Errorf("worker %d: plan %+v (topology has %d tasks)", w, plan, topo.NumTasks())
		}
		path := writeAssignment(t, a)
		go func() {
			errs <- Run(ctx, builder(counts[w]), []string{"worker", "--assignment", path}, io.Discard, quiet)
		}()
	}
	deadline := time.Now().Add(25 * time.Second)
	for counts[0].Total()+counts[1].Total() < sentences*words && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := counts[0].Total() + counts[1].Total(); got != sentences*words {
		t.Errorf("two workers counted %d words, want %d", got, sentences*words)
	}
	// Missing addresses are refused with a clear error.
	bad := supervisor.Assignment{Topology: "wc", Worker: 0, Workers: 2, StateDir: t.TempDir(), Peers: []supervisor.Peer{{Worker: 0, DataAddr: addrs[0]}}}
	if _, err := WorkerPlan(&bad); !errors.Is(err, supervisor.ErrBadAssignment) {
		t.Errorf("plan without a peer address: %v", err)
	}
}

func TestSubmit(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got *http.Request
		sum [32]byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, sum = r, sha256.Sum256(b)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(api.Topology{Name: r.URL.Query().Get("name"), Workers: 2, BinarySHA256: hex.EncodeToString(sum[:])})
	}))
	defer srv.Close()
	var out bytes.Buffer
	args := []string{"submit", "--node", srv.URL, "--token", "tok", "--name", "clicks", "--workers", "2", "--sign-key", keyFile}
	if err := Run(t.Context(), builder(bolts.NewCounts()), args, &out, quiet); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	want, err := api.FileSHA256(exe)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sum != want {
		t.Errorf("uploaded content hashes to %x, own executable to %x", sum, want)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/v1/topologies" || got.URL.Query().Get("workers") != "2" ||
		got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get(api.HeaderSHA256) != hex.EncodeToString(want[:]) {
		t.Errorf("request %s %s %v", got.Method, got.URL, got.Header)
	}
	sig, err := base64.StdEncoding.DecodeString(got.Header.Get(api.HeaderSignature))
	if err != nil || !ed25519.Verify(pub, want[:], sig) {
		t.Errorf("signature does not verify: %v", err)
	}
	if !strings.Contains(out.String(), "submitted clicks") {
		t.Errorf("output %q", out.String())
	}
}

func TestKeyFiles(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"seed.hex": hex.EncodeToString(priv.Seed()), "seed.b64": base64.StdEncoding.EncodeToString(priv.Seed()),
		"priv.hex": hex.EncodeToString(priv), "pub.b64": " " + base64.StdEncoding.EncodeToString(pub) + "\n",
		"bad": "not a key!", "short": hex.EncodeToString([]byte("abc")),
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
	for _, n := range []string{"seed.hex", "seed.b64", "priv.hex"} {
		k, err := ReadPrivateKey(filepath.Join(dir, n))
		if err != nil || !bytes.Equal(k, priv) {
			t.Errorf("%s: %v", n, err)
		}
	}
	if k, err := ReadPublicKey(filepath.Join(dir, "pub.b64")); err != nil || !bytes.Equal(k, pub) {
		t.Errorf("pub: %v", err)
	}
	for _, n := range []string{"bad", "short", "missing"} {
		if _, err := ReadPrivateKey(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s accepted", n)
		}
	}
}

// TestWorkerAppliesSubmittedConfig: the configuration in the assignment
// replaces the compiled one (here one that cannot build: parallelism 2
// above max parallelism 1), and an undecodable one is refused.
func TestWorkerAppliesSubmittedConfig(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{`{"max_parallelism":1,"workers":1}`, "parallelism"},
		{`{"guarantee":"sometimes"}`, "bad assignment"},
	} {
		path := writeAssignment(t, supervisor.Assignment{Topology: "wc", Workers: 1, StateDir: t.TempDir(), Config: json.RawMessage(c.config)})
		err := Run(t.Context(), builder(bolts.NewCounts()), []string{"worker", "--assignment", path}, io.Discard, quiet)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %s: %v, want an error about %q", c.config, err, c.want)
		}
	}
}

// TestWorkerRunsRescaledTopology: a worker builds its topology with the
// parallelism in its assignment (what `gale rebalance --parallelism` sets),
// and refuses an assignment whose task ids its topology does not have.
func TestWorkerRunsRescaledTopology(t *testing.T) {
	counts := bolts.NewCounts()
	var made atomic.Int64
	newBuilder := func() *topology.Builder {
		b := topology.NewBuilder("wc")
		b.SetSpout("sentences", gen.Sentences(gen.SentenceConfig{Seed: 3, WordsPerSentence: words, Limit: sentences, Reliable: true}), 1)
		b.SetBolt("split", bolts.Split(" "), 2).ShuffleFrom("sentences")
		count := bolts.Count("word", bolts.Into(counts), bolts.Silent())
		b.SetBolt("count", func() topology.Bolt { made.Add(1); return count() }, 2).FieldsFrom("split", "word")
		return b
	}
	// Task ids go by component name: count 1-3, sentences 4, split 5.
	assignment := func(countFirstTask int32) supervisor.Assignment {
		blocks := []supervisor.TaskBlock{
			{Component: "count", First: 0, Count: 3, FirstTask: countFirstTask, KeyGroupEnd: 128},
			{Component: "sentences", First: 0, Count: 1, FirstTask: 4, KeyGroupEnd: 128},
			{Component: "split", First: 0, Count: 1, FirstTask: 5, KeyGroupEnd: 128},
		}
		return supervisor.Assignment{Topology: "wc", Worker: 0, Workers: 1, StateDir: t.TempDir(),
			Parallelism: map[string]int{"count": 3, "split": 1}, Tasks: blocks,
			Peers: []supervisor.Peer{{Worker: 0, Tasks: blocks}}}
	}

	t.Setenv(supervisor.EnvAssignment, writeAssignment(t, assignment(2)))
	err := Run(t.Context(), newBuilder(), []string{"worker"}, io.Discard, quiet)
	if !errors.Is(err, supervisor.ErrBadAssignment) || !strings.Contains(err.Error(), "count") {
		t.Fatalf("assignment with task ids the topology lacks: %v, want ErrBadAssignment naming the component", err)
	}

	made.Store(0)
	t.Setenv(supervisor.EnvAssignment, writeAssignment(t, assignment(1)))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	hook := WhileRunning(func(hctx context.Context, _ Env) error {
		for counts.Total() < sentences*words && hctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		return nil
	})
	if err := Run(ctx, newBuilder(), []string{"worker"}, io.Discard, quiet, hook); err != nil {
		t.Fatal(err)
	}
	if got := counts.Total(); got != sentences*words {
		t.Errorf("counted %d words, want %d", got, sentences*words)
	}
	// One instance for Build's output declaration, then one per task.
	if n := made.Load(); n != 1+3 {
		t.Errorf("%d count bolts made, want 1 + 3 tasks", n)
	}
}
