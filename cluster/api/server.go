package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gale-stream/gale/cluster"
	"github.com/gale-stream/gale/cluster/binstore"
	"github.com/gale-stream/gale/cluster/ckptstore"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/internal/obs"
	"github.com/gale-stream/gale/topology"
)

// Cluster is what the server needs of a cluster node; *cluster.Node has it.
type Cluster interface {
	ID() string
	Members() []cluster.Member
	Topologies() []cluster.TopologyInfo
	Assignment() *cluster.Assignment
	PutTopology(t cluster.TopologyInfo) error
	KillTopology(name string) error
}

// Workers reports this node's worker processes; *supervisor.Supervisor has
// it.
type Workers interface {
	Status() []supervisor.Status
}

// Config configures a [Server].
type Config struct {
	// Cluster is the node. Required.
	Cluster Cluster
	// Store holds the binaries. Required.
	Store *binstore.Store
	// Workers reports local worker processes. Default: none.
	Workers Workers
	// Token, when set, is required as a bearer token on every /v1 request.
	Token string
	// TrustedKey, when set, makes the server accept only binaries whose
	// sha256 carries a valid ed25519 signature by it.
	TrustedKey ed25519.PublicKey
	// ScratchDir is where binaries are run with `spec`. Default: a "scratch"
	// directory beside the store.
	ScratchDir string
	// SpecTimeout bounds `spec`. Default: binstore.DefaultSpecTimeout.
	SpecTimeout time.Duration
	// Gatherer serves /metrics. Default: no /metrics.
	Gatherer prometheus.Gatherer
	// MetricsAddr is where this node serves /metrics for Prometheus (its
	// own figures), listed by the discovery endpoints. Default: none.
	MetricsAddr string
	// HTTPClient asks peers for their workers' status. Default: a client
	// with a 2s timeout.
	HTTPClient *http.Client
	// Logger receives the server's logs. Default: slog.Default().
	Logger *slog.Logger
	// Checkpoints serves the checkpoint storage endpoints under
	// /v1/checkpoints/ (a *ckptstore.Server). Default: none (404).
	Checkpoints http.Handler
	// WorkerToken returns the secret the workers of a topology hold (their
	// assignment's Token). The checkpoint endpoints of that topology, and
	// only those, accept it in place of Token, for what a worker may do
	// there (see ckptstore.RestrictToWorker). Default: none.
	WorkerToken func(topology string) (string, bool)
}

// Server serves the API. Create it with [NewServer] and serve
// [Server.Handler].
type Server struct {
	cfg    Config
	logger *slog.Logger
	mux    *http.ServeMux
	// submitMu serializes submissions, so at most one uploaded binary runs
	// `spec` at a time.
	submitMu sync.Mutex
	sampler  sampler
}

// NewServer returns a server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Cluster == nil || cfg.Store == nil {
		return nil, errors.New("api: Cluster and Store are required")
	}
	if cfg.TrustedKey != nil && len(cfg.TrustedKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("api: trusted key has %d bytes, want %d", len(cfg.TrustedKey), ed25519.PublicKeySize)
	}
	if cfg.ScratchDir == "" {
		cfg.ScratchDir = cfg.Store.Dir() + ".scratch"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.ScratchDir, 0o700); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, mux: http.NewServeMux()}
	s.sampler.client = &http.Client{Timeout: 2 * time.Second}
	s.mux.HandleFunc("POST /v1/topologies", s.auth(s.submit))
	s.mux.HandleFunc("GET /v1/topologies", s.auth(s.list))
	s.mux.HandleFunc("GET /v1/topologies/{name}", s.auth(s.status))
	s.mux.HandleFunc("DELETE /v1/topologies/{name}", s.auth(s.kill))
	s.mux.HandleFunc("POST /v1/topologies/{name}/rebalance", s.auth(s.rebalance))
	s.mux.HandleFunc("GET /v1/members", s.auth(s.members))
	s.mux.HandleFunc("GET /v1/workers", s.auth(s.workers))
	s.mux.HandleFunc("GET /v1/binaries/{sha}", s.auth(s.binary))
	s.mux.HandleFunc("GET /v1/targets", s.auth(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.LocalTargets())
	}))
	if cfg.Checkpoints != nil {
		s.mux.Handle(ckptstore.PathPrefix+"{topology}/", s.authCheckpoints(cfg.Checkpoints))
	}
	s.mux.HandleFunc("/v1/", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	}))
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// auth wraps h with the bearer-token check.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Token == "" {
		return h
	}
	want := sha256.Sum256([]byte(s.cfg.Token))
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Compare hashes so neither the length nor the content of the token
		// leaks through timing.
		gotSum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
			s.logger.Warn("api: unauthorized request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="gale"`)
			writeError(w, http.StatusUnauthorized, "unauthorized: missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

// authCheckpoints wraps the checkpoint endpoints with the bearer-token
// check: the cluster token opens everything, the worker token of the
// topology in the path opens that topology's checkpoints for worker
// operations.
func (s *Server) authCheckpoints(h http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return h
	}
	cluster := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		gotSum := sha256.Sum256([]byte(got))
		if ok && subtle.ConstantTimeCompare(gotSum[:], cluster[:]) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		if ok && s.cfg.WorkerToken != nil {
			if tok, found := s.cfg.WorkerToken(r.PathValue("topology")); found && tok != "" {
				want := sha256.Sum256([]byte(tok))
				if subtle.ConstantTimeCompare(gotSum[:], want[:]) == 1 {
					h.ServeHTTP(w, r.WithContext(ckptstore.RestrictToWorker(r.Context())))
					return
				}
			}
		}
		s.logger.Warn("api: unauthorized request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="gale"`)
		writeError(w, http.StatusUnauthorized, "unauthorized: missing or wrong bearer token")
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	workers := 0
	if v := q.Get("workers"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("workers=%q: want a positive integer", v))
			return
		}
		workers = n
	}
	var want *[32]byte
	if h := r.Header.Get(HeaderSHA256); h != "" {
		sum, err := binstore.ParseHash(h)
		if err != nil {
			writeError(w, http.StatusBadRequest, HeaderSHA256+": "+err.Error())
			return
		}
		want = &sum
	}
	var overrides []byte
	if v := q.Get("config"); v != "" {
		if !json.Valid([]byte(v)) {
			writeError(w, http.StatusBadRequest, "config: not a JSON object")
			return
		}
		overrides = []byte(v)
	}
	var sig []byte
	if h := r.Header.Get(HeaderSignature); h != "" {
		b, err := base64.StdEncoding.DecodeString(h)
		if err != nil {
			writeError(w, http.StatusBadRequest, HeaderSignature+": not base64")
			return
		}
		sig = b
	}
	if name != "" {
		if _, ok := s.find(name); ok {
			writeError(w, http.StatusConflict, fmt.Sprintf("topology %q is already running; kill it first", name))
			return
		}
	}

	s.submitMu.Lock()
	defer s.submitMu.Unlock()
	st, err := s.cfg.Store.Stage(r.Body, want)
	if err != nil {
		code := http.StatusBadRequest
		switch {
		case errors.Is(err, binstore.ErrTooLarge):
			code = http.StatusRequestEntityTooLarge
		case errors.Is(err, binstore.ErrHashMismatch), errors.Is(err, binstore.ErrNotExecutable):
			code = http.StatusUnprocessableEntity
		}
		writeError(w, code, err.Error())
		return
	}
	committed := false
	defer func() {
		if !committed {
			st.Discard()
		}
	}()
	log := s.logger.With("sha256", st.Hex(), "size", st.Size)
	if s.cfg.TrustedKey != nil {
		if err := binstore.VerifySignature(s.cfg.TrustedKey, st.SHA256, sig); err != nil {
			log.Warn("api: refused unsigned binary", "err", err)
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
	}
	if err := binstore.CheckExecutable(st.Path()); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	scratch, err := os.MkdirTemp(s.cfg.ScratchDir, "spec-")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer os.RemoveAll(scratch)
	spec, err := binstore.ReadSpec(r.Context(), st.Path(), scratch, s.cfg.SpecTimeout)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if name != "" {
		spec.Name = name
	}
	if overrides != nil {
		dec := json.NewDecoder(bytes.NewReader(overrides))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec.Config); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("config: %v", err))
			return
		}
	}
	if workers > 0 {
		spec.Config.Workers = workers
	}
	info, err := cluster.TopologyFromSpec(spec, st.SHA256)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	info.Incarnation = rand.Text()[:16]
	if err := info.Validate(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if _, ok := s.find(info.Name); ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("topology %q is already running; kill it first", info.Name))
		return
	}
	if _, err := st.Commit(); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	committed = true
	if err := s.cfg.Cluster.PutTopology(info); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, cluster.ErrInvalidTopology) {
			code = http.StatusUnprocessableEntity
		}
		writeError(w, code, err.Error())
		return
	}
	log.Info("topology submitted", "topology", info.Name, "workers", info.Workers)
	t, _ := s.find(info.Name)
	writeJSON(w, http.StatusCreated, s.summary(t, s.cfg.Cluster.Assignment()))
}

func (s *Server) find(name string) (cluster.TopologyInfo, bool) {
	for _, t := range s.cfg.Cluster.Topologies() {
		if t.Name == name {
			return t, true
		}
	}
	return cluster.TopologyInfo{}, false
}

func (s *Server) summary(t cluster.TopologyInfo, a *cluster.Assignment) Topology {
	out := Topology{
		Name:         t.Name,
		BinarySHA256: hexSum(t.BinarySHA256),
		Workers:      t.Workers,
		Version:      t.Version,
		UpdatedBy:    t.UpdatedBy,
	}
	for _, c := range t.Components {
		out.Components = append(out.Components, Component{Name: c.Name, Parallelism: c.Parallelism})
	}
	if a != nil && a.Placement != nil && a.Topologies[t.Name] == t.Version {
		if tp := a.Placement.Topology(t.Name); tp != nil {
			out.Placed = len(tp.Workers)
		}
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	a := s.cfg.Cluster.Assignment()
	out := []Topology{}
	for _, t := range s.cfg.Cluster.Topologies() {
		out = append(out, s.summary(t, a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	t, ok := s.find(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown topology %q", name))
		return
	}
	a := s.cfg.Cluster.Assignment()
	st := Status{Topology: s.summary(t, a)}
	if a == nil || a.Placement == nil {
		writeJSON(w, http.StatusOK, st)
		return
	}
	st.Epoch = a.Epoch
	tp := a.Placement.Topology(name)
	if tp == nil {
		writeJSON(w, http.StatusOK, st)
		return
	}
	procs := s.processes(r.Context(), tp.Workers, r.URL.Query().Get("stats") == "1")
	for i, wp := range tp.Workers {
		wk := Worker{Index: i, Node: wp.Node, Since: wp.Since}
		for _, ct := range wp.Tasks {
			wk.Tasks += ct.Count
		}
		if p, ok := procs[wp.Node]; ok {
			if p.err != nil {
				wk.Error = p.err.Error()
			}
			for _, ps := range p.list {
				if ps.Topology == name && ps.Worker == i {
					wk.Process = &ps
				}
			}
			if wk.Process == nil && wk.Error == "" {
				wk.Error = "not started yet on its node"
			}
		}
		st.Assigned = append(st.Assigned, wk)
	}
	writeJSON(w, http.StatusOK, st)
}

type nodeProcs struct {
	list []WorkerInfo
	err  error
}

// processes asks every node that runs one of workers for its processes:
// this node directly, the others through their API, concurrently.
func (s *Server) processes(ctx context.Context, workers []cluster.WorkerPlacement, stats bool) map[string]nodeProcs {
	apis := make(map[string]string)
	for _, m := range s.cfg.Cluster.Members() {
		apis[m.ID] = m.Meta.APIAddr
	}
	out := make(map[string]nodeProcs)
	var mu sync.Mutex // guards out: the loop and the goroutines it starts write it
	set := func(node string, p nodeProcs) {
		mu.Lock()
		out[node] = p
		mu.Unlock()
	}
	seen := make(map[string]bool)
	var wg sync.WaitGroup
	for _, wp := range workers {
		if seen[wp.Node] {
			continue
		}
		seen[wp.Node] = true
		if wp.Node == s.cfg.Cluster.ID() {
			set(wp.Node, nodeProcs{list: s.localWorkers(ctx, stats)})
			continue
		}
		node, addr := wp.Node, apis[wp.Node]
		if addr == "" {
			set(node, nodeProcs{err: errors.New("node has no API address")})
			continue
		}
		wg.Go(func() {
			c := &Client{BaseURL: "http://" + addr, Token: s.cfg.Token, HTTP: s.cfg.HTTPClient}
			list, err := c.workers(ctx, stats)
			set(node, nodeProcs{list: list, err: err})
		})
	}
	wg.Wait()
	return out
}

func (s *Server) kill(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.cfg.Cluster.KillTopology(name); err != nil {
		if errors.Is(err, cluster.ErrUnknownTopology) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown topology %q", name))
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.logger.Info("topology killed", "topology", name)
	writeJSON(w, http.StatusOK, map[string]string{"killed": name})
}

func (s *Server) rebalance(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	t, ok := s.find(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown topology %q", name))
		return
	}
	if v := r.URL.Query().Get("workers"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("workers=%q: want a positive integer", v))
			return
		}
		t.Workers = n
	}
	par, err := parseParallelism(r.URL.Query()["parallelism"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	spec, err := topology.DecodeSpec(t.Spec)
	switch {
	case err != nil && len(par) > 0:
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("topology %q: stored spec: %v", name, err))
		return
	case err == nil:
		if len(par) > 0 {
			// Task ids follow the new parallelism; keyed state follows
			// its key groups to the new tasks when the workers restore.
			if spec, err = spec.WithParallelism(par); err != nil {
				writeError(w, http.StatusUnprocessableEntity, err.Error())
				return
			}
			rescaled, err := cluster.TopologyFromSpec(spec, t.BinarySHA256)
			if err != nil {
				writeError(w, http.StatusUnprocessableEntity, err.Error())
				return
			}
			t.Components = rescaled.Components
		}
		// Keep the spec's config, which the workers run with, in step.
		spec.Config.Workers = t.Workers
		if b, err := topology.EncodeSpec(spec); err == nil {
			t.Spec = b
		}
	}
	if err := s.cfg.Cluster.PutTopology(t); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, cluster.ErrInvalidTopology) {
			code = http.StatusUnprocessableEntity
		}
		writeError(w, code, err.Error())
		return
	}
	s.logger.Info("topology rebalanced", "topology", name, "workers", t.Workers, "parallelism", par)
	t, _ = s.find(name)
	writeJSON(w, http.StatusOK, s.summary(t, s.cfg.Cluster.Assignment()))
}

func (s *Server) members(w http.ResponseWriter, _ *http.Request) {
	ms := s.cfg.Cluster.Members()
	coord, _ := cluster.Coordinator(ms)
	out := Members{Self: s.cfg.Cluster.ID(), Members: []Member{}}
	if a := s.cfg.Cluster.Assignment(); a != nil {
		out.Epoch = a.Epoch
	}
	for _, m := range ms {
		out.Members = append(out.Members, Member{
			ID:          m.ID,
			GossipAddr:  m.GossipAddr,
			State:       m.State.String(),
			APIAddr:     m.Meta.APIAddr,
			DataAddr:    m.Meta.DataAddr,
			Slots:       m.Meta.Slots,
			Version:     m.Meta.Version,
			StartedAt:   m.Meta.StartedAt,
			Coordinator: m.Alive() && m.ID == coord.ID,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.localWorkers(r.Context(), r.URL.Query().Get("stats") == "1"))
}

// localWorkers lists this node's worker processes, with their figures
// (scraped from their /metrics concurrently) when stats is set.
func (s *Server) localWorkers(ctx context.Context, stats bool) []WorkerInfo {
	out := []WorkerInfo{}
	if s.cfg.Workers == nil {
		return out
	}
	for _, st := range s.cfg.Workers.Status() {
		out = append(out, WorkerInfo{Status: st})
	}
	if !stats {
		return out
	}
	var wg sync.WaitGroup
	for i := range out {
		if out[i].State != supervisor.StateRunning {
			continue
		}
		wg.Go(func() {
			fig, err := s.sampler.stats(ctx, out[i].Status)
			if err != nil {
				out[i].StatsError = err.Error()
				return
			}
			out[i].WorkerFigures = fig
		})
	}
	wg.Wait()
	return out
}

func (s *Server) binary(w http.ResponseWriter, r *http.Request) {
	sum, err := binstore.ParseHash(r.PathValue("sha"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := s.cfg.Store.Open(sum)
	if err != nil {
		if errors.Is(err, binstore.ErrNotFound) {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if fi, err := f.Stat(); err == nil {
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	}
	_, _ = io.Copy(w, f)
}

// LocalTargets lists the Prometheus targets of this node: its own metrics
// address and those of its running workers.
func (s *Server) LocalTargets() []obs.Target {
	id := s.cfg.Cluster.ID()
	out := []obs.Target{}
	if s.cfg.MetricsAddr != "" {
		out = append(out, obs.NodeTarget(s.cfg.MetricsAddr, id))
	}
	if s.cfg.Workers != nil {
		for _, st := range s.cfg.Workers.Status() {
			if st.MetricsAddr != "" && st.State == supervisor.StateRunning {
				out = append(out, obs.WorkerTarget(st.MetricsAddr, id, st.Topology, st.Worker))
			}
		}
	}
	return out
}

// ClusterTargets lists the Prometheus targets of the whole cluster: this
// node's, and those every alive peer reports on GET /v1/targets (asked
// concurrently, each within 3s; a peer that does not answer is left out
// until the next call). It serves the http_sd endpoint.
func (s *Server) ClusterTargets() []obs.Target {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out := s.LocalTargets()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range s.cfg.Cluster.Members() {
		if m.ID == s.cfg.Cluster.ID() || !m.Alive() || m.Meta.APIAddr == "" {
			continue
		}
		wg.Go(func() {
			c := &Client{BaseURL: "http://" + m.Meta.APIAddr, Token: s.cfg.Token, HTTP: s.cfg.HTTPClient}
			var ts []obs.Target
			if err := c.do(ctx, http.MethodGet, "/v1/targets", nil, nil, &ts); err != nil {
				s.logger.Warn("api: peer targets", "peer", m.ID, "err", err)
				return
			}
			mu.Lock()
			out = append(out, ts...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// parseParallelism parses rebalance's parallelism parameters, each a
// comma-separated list of COMPONENT=N.
func parseParallelism(vals []string) (map[topology.ComponentID]int, error) {
	out := map[topology.ComponentID]int{}
	for _, v := range vals {
		for kv := range strings.SplitSeq(v, ",") {
			name, num, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(num)
			if !ok || name == "" || err != nil || n < 1 {
				return nil, fmt.Errorf("parallelism=%q: want COMPONENT=N with N a positive integer", kv)
			}
			out[topology.ComponentID(name)] = n
		}
	}
	return out, nil
}
