package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/gale-stream/gale/cluster"
	"github.com/gale-stream/gale/cluster/binstore"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCluster records what the server asks of the cluster.
type fakeCluster struct {
	mu    sync.Mutex
	topos map[string]cluster.TopologyInfo
	puts  int
}

func (f *fakeCluster) ID() string { return "n1" }
func (f *fakeCluster) Members() []cluster.Member {
	return []cluster.Member{{ID: "n1", GossipAddr: "127.0.0.1:1", State: cluster.MemberAlive, Meta: cluster.NodeMeta{ID: "n1", APIAddr: "127.0.0.1:2", Slots: 4}}}
}
func (f *fakeCluster) Topologies() []cluster.TopologyInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []cluster.TopologyInfo
	for _, t := range f.topos {
		out = append(out, t)
	}
	return out
}
func (f *fakeCluster) Assignment() *cluster.Assignment { return nil }
func (f *fakeCluster) get(name string) (cluster.TopologyInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.topos[name]
	return t, ok
}
func (f *fakeCluster) PutTopology(t cluster.TopologyInfo) error {
	if err := t.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	t.Version = uint64(f.puts)
	f.topos[t.Name] = t
	return nil
}
func (f *fakeCluster) KillTopology(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.topos[name]; !ok {
		return cluster.ErrUnknownTopology
	}
	delete(f.topos, name)
	return nil
}

type fakeWorkers []supervisor.Status

func (w fakeWorkers) Status() []supervisor.Status { return w }

type harness struct {
	fc    *fakeCluster
	store *binstore.Store
	srv   *httptest.Server
}

func newHarness(t *testing.T, token string, key ed25519.PublicKey) *harness {
	t.Helper()
	store, err := binstore.Open(t.TempDir()+"/bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeCluster{topos: map[string]cluster.TopologyInfo{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "gale_test_total", Help: "x"}))
	s, err := NewServer(Config{Cluster: fc, Store: store, Token: token, TrustedKey: key, Gatherer: reg,
		Workers: fakeWorkers{{Topology: "t", Worker: 0, State: supervisor.StateRunning}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &harness{fc: fc, store: store, srv: srv}
}

func (h *harness) client(token string) *Client {
	return &Client{BaseURL: h.srv.URL, Token: token, HTTP: h.srv.Client()}
}

func (h *harness) stored(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir(h.store.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// selfBinary is a real executable for this platform that is not a gale
// topology: true(1), which prints nothing when run with `spec`. (Not the
// test binary itself: run with `spec`, it would run the tests again.)
func selfBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	p, err = filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthOnEveryEndpoint(t *testing.T) {
	h := newHarness(t, "tok", nil)
	reqs := []struct{ method, path string }{
		{"POST", "/v1/topologies?name=x"},
		{"GET", "/v1/topologies"},
		{"GET", "/v1/topologies/x"},
		{"DELETE", "/v1/topologies/x"},
		{"POST", "/v1/topologies/x/rebalance?workers=2"},
		{"GET", "/v1/members"},
		{"GET", "/v1/workers"},
		{"GET", "/v1/binaries/" + strings.Repeat("00", 32)},
		{"GET", "/v1/nothing"},
	}
	for _, r := range reqs {
		for _, auth := range []string{"", "Bearer wrong", "Bearer tok2", "tok", "Basic dG9r"} {
			req, _ := http.NewRequest(r.method, h.srv.URL+r.path, strings.NewReader("body"))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(b, []byte(`"error"`)) {
				t.Errorf("%s %s with %q: %d %s", r.method, r.path, auth, resp.StatusCode, b)
			}
		}
	}
	if n := h.stored(t); n != 0 {
		t.Errorf("%d files stored by unauthorized requests", n)
	}
	// /metrics needs no token.
	resp, err := h.srv.Client().Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("gale_test_total")) {
		t.Errorf("/metrics: %d %s", resp.StatusCode, b)
	}
	// The right token passes.
	if _, err := h.client("tok").Members(context.Background()); err != nil {
		t.Errorf("members with the token: %v", err)
	}
	if _, err := h.client("wrong").Members(context.Background()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("members with a wrong token: %v", err)
	}
}

func TestSubmitChecks(t *testing.T) {
	h := newHarness(t, "", nil)
	c := h.client("")
	bin := selfBinary(t)
	_, err := c.Submit(context.Background(), bin, SubmitOptions{Name: "x"})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "not a gale topology") {
		t.Errorf("test binary: %v", err)
	}
	bad := [32]byte{1}
	_, err = c.Submit(context.Background(), bin, SubmitOptions{SHA256: &bad})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Errorf("hash mismatch: %v", err)
	}
	for _, q := range []string{"workers=0", "workers=x"} {
		resp, err := h.srv.Client().Post(h.srv.URL+"/v1/topologies?"+q, "application/octet-stream", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
	if n := h.stored(t); n != 0 {
		t.Errorf("%d files stored after refused submissions", n)
	}
	if h.fc.puts != 0 {
		t.Errorf("%d topologies announced", h.fc.puts)
	}
}

func TestSignedBinaries(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	h := newHarness(t, "", pub)
	bin := selfBinary(t)
	sum, err := FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		sig  []byte
		want string
	}{
		{"missing", nil, "accepts only signed binaries"},
		{"other key", ed25519.Sign(otherPriv, sum[:]), "does not verify"},
		{"other content", ed25519.Sign(priv, []byte("something else")), "does not verify"},
		// A valid signature passes the check; the test binary then fails as
		// not a topology, which shows the signature was accepted.
		{"valid", binstore.Sign(priv, sum), "not a gale topology"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.client("").Submit(context.Background(), bin, SubmitOptions{Signature: c.sig})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
	// A malformed signature header.
	req, _ := http.NewRequest("POST", h.srv.URL+"/v1/topologies", strings.NewReader("x"))
	req.Header.Set(HeaderSignature, "%%%")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad signature header: %d", resp.StatusCode)
	}
}

func TestTopologyEndpoints(t *testing.T) {
	h := newHarness(t, "tok", nil)
	c := h.client("tok")
	ctx := context.Background()
	info := cluster.TopologyInfo{Name: "clicks", BinarySHA256: sha256.Sum256([]byte("bin")), Workers: 1, MaxParallelism: 8,
		Components: []cluster.Component{{Name: "a", Parallelism: 2, FirstTask: 1}}}
	if err := h.fc.PutTopology(info); err != nil {
		t.Fatal(err)
	}
	ts, err := c.List(ctx)
	if err != nil || len(ts) != 1 || ts[0].Name != "clicks" || ts[0].BinarySHA256 != hex.EncodeToString(info.BinarySHA256[:]) {
		t.Fatalf("list: %+v %v", ts, err)
	}
	st, err := c.Status(ctx, "clicks")
	if err != nil || st.Name != "clicks" || len(st.Components) != 1 || st.Components[0].Parallelism != 2 {
		t.Errorf("status: %+v %v", st, err)
	}
	if _, err := c.Status(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of unknown: %v", err)
	}
	// A second submission under a running name is refused before upload.
	if _, err := c.Submit(ctx, selfBinary(t), SubmitOptions{Name: "clicks"}); !errors.Is(err, ErrConflict) {
		t.Errorf("submit of a running name: %v", err)
	}
	tp, err := c.Rebalance(ctx, "clicks", 3)
	if err != nil || tp.Workers != 3 || tp.Version != 2 {
		t.Errorf("rebalance: %+v %v", tp, err)
	}
	// An exactly-once topology spreads over several workers too, and its
	// spec's config follows.
	eo := topology.Spec{Version: topology.SpecVersion, Name: "eo", Config: topology.SpecConfig{Guarantee: topology.ExactlyOnce}}
	enc, err := topology.EncodeSpec(eo)
	if err != nil {
		t.Fatal(err)
	}
	info.Name, info.Spec = "eo", enc
	if err := h.fc.PutTopology(info); err != nil {
		t.Fatal(err)
	}
	if tp, err := c.Rebalance(ctx, "eo", 2); err != nil || tp.Workers != 2 {
		t.Errorf("rebalance of exactly-once to 2 workers: %+v %v", tp, err)
	}
	// Parallelism: the spec's tasks are renumbered and the placement's
	// components follow; bad requests change nothing.
	rb := topology.NewBuilder("clicks")
	rb.SetConfig(topology.Config{MaxParallelism: 64})
	rb.SetSpout("clicks", topology.SpoutFunc(func(context.Context, topology.SpoutEmitter) error { return nil }).Factory(), 2).Output("url")
	rtopo, err := rb.Build()
	if err != nil {
		t.Fatal(err)
	}
	rinfo, err := cluster.TopologyFromSpec(rtopo.Spec(), info.BinarySHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.fc.PutTopology(rinfo); err != nil {
		t.Fatal(err)
	}
	tp, err = c.RebalanceWith(ctx, "clicks", RebalanceOptions{Parallelism: map[string]int{"clicks": 5}})
	if err != nil || len(tp.Components) != 1 || tp.Components[0].Parallelism != 5 {
		t.Fatalf("rebalance to parallelism 5: %+v %v", tp, err)
	}
	if stored, ok := h.fc.get("clicks"); !ok || stored.Components[0].Parallelism != 5 {
		t.Errorf("stored components after rebalance: %+v", stored.Components)
	} else if spec, err := topology.DecodeSpec(stored.Spec); err != nil || len(spec.Components[0].Tasks) != 5 {
		t.Errorf("stored spec after rebalance: %+v %v", spec.Components, err)
	}
	for _, bad := range []struct {
		par  map[string]int
		want error
	}{
		{map[string]int{"ghost": 2}, ErrBadRequest},
		{map[string]int{"clicks": 0}, ErrBadRequest},
		{map[string]int{"clicks": 1 << 20}, ErrBadRequest},
	} {
		if _, err := c.RebalanceWith(ctx, "clicks", RebalanceOptions{Parallelism: bad.par}); !errors.Is(err, bad.want) {
			t.Errorf("rebalance with parallelism %v: %v, want %v", bad.par, err, bad.want)
		}
	}
	if stored, _ := h.fc.get("clicks"); stored.Components[0].Parallelism != 5 {
		t.Errorf("a refused rebalance changed the parallelism to %d", stored.Components[0].Parallelism)
	}
	if _, err := c.Rebalance(ctx, "nope", 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("rebalance of unknown: %v", err)
	}
	ms, err := c.Members(ctx)
	if err != nil || ms.Self != "n1" || len(ms.Members) != 1 || !ms.Members[0].Coordinator || ms.Members[0].APIAddr != "127.0.0.1:2" {
		t.Errorf("members: %+v %v", ms, err)
	}
	ws, err := c.Workers(ctx)
	if err != nil || len(ws) != 1 || ws[0].State != supervisor.StateRunning {
		t.Errorf("workers: %+v %v", ws, err)
	}
	if err := c.Kill(ctx, "clicks"); err != nil {
		t.Errorf("kill: %v", err)
	}
	if err := c.Kill(ctx, "clicks"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second kill: %v", err)
	}
}

func TestBinaryEndpointAndFetch(t *testing.T) {
	h := newHarness(t, "tok", nil)
	content := []byte("\x7fELF pretend binary")
	st, err := h.store.Stage(bytes.NewReader(content), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	// Another node's store fetches it with the token and verifies it.
	other, err := binstore.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := other.Fetch(context.Background(), h.srv.Client(), "tok", st.SHA256, []string{"http://127.0.0.1:1", h.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, content) {
		t.Errorf("fetched %q", b)
	}
	// Without the token, the peer refuses.
	third, _ := binstore.Open(t.TempDir(), 0)
	if _, err := third.Fetch(context.Background(), h.srv.Client(), "", st.SHA256, []string{h.srv.URL}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("fetch without token: %v", err)
	}
	// Unknown hash: 404.
	if _, err := third.Fetch(context.Background(), h.srv.Client(), "tok", [32]byte{9}, []string{h.srv.URL}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("fetch of unknown: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	c := &Client{BaseURL: "127.0.0.1:1"}
	_, err := c.List(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("err %v", err)
	}
}
