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
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

func TestIdleWorker(t *testing.T) {
	dir := t.TempDir()
	path := writeAssignment(t, supervisor.Assignment{Topology: "clicks", Worker: 1, Workers: 2, Epoch: 1, StateDir: dir, MetricsAddr: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	counts := bolts.NewCounts()
	go func() { done <- Run(ctx, builder(counts), []string{"worker", "--assignment", path}, io.Discard, quiet) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "metrics.addr")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle worker never served metrics")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if counts.Total() != 0 {
		t.Errorf("worker 1 of 2 ran the topology (%d words): worker 0 runs it", counts.Total())
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
