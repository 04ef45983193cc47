package daemon

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gale-stream/gale/cluster"
	"github.com/gale-stream/gale/cluster/api"
	"github.com/gale-stream/gale/cluster/binstore"
	"github.com/gale-stream/gale/cluster/ckptstore"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/internal/obs"
	"github.com/gale-stream/gale/topology"
)

// Defaults of [Config].
const (
	DefaultAPIAddr     = "127.0.0.1:7070"
	DefaultGossipAddr  = "127.0.0.1:7946"
	DefaultDataAddr    = "127.0.0.1:7100"
	DefaultMetricsAddr = "127.0.0.1:9464"
	DefaultJoinTimeout = 30 * time.Second
	// retryInterval is how often reconcile runs without a change, to retry
	// binaries that could not be fetched.
	retryInterval = 2 * time.Second
)

// Config configures a node. Zero fields take the defaults in their comments.
type Config struct {
	// NodeID is the node's id. Default: the host name.
	NodeID string
	// DataDir holds the binaries and the workers' directories. Required.
	DataDir string
	// APIAddr is where the HTTP API listens. Default: 127.0.0.1:7070,
	// loopback: exposing it takes an explicit address, and Start refuses a
	// non-loopback address without a Token.
	APIAddr string
	// AdvertiseAPIAddr is the API address published to peers when it
	// differs from the bound one. Default: the bound address.
	AdvertiseAPIAddr string
	// GossipAddr is where gossip binds. Default: 127.0.0.1:7946.
	GossipAddr string
	// DataAddr is host:port, the first of the ports this node's workers
	// listen on for each other: the k-th worker on the node, in the order
	// of (fencing token, topology, index), listens on port+k, as Storm's
	// supervisor slot ports do. Keep the range free and reachable by the
	// other nodes. Default: 127.0.0.1:7100.
	DataAddr string
	// Seeds are gossip addresses to join.
	Seeds []string
	// MetricsAddr is where the node serves Prometheus: /metrics (its own
	// figures) and /prometheus/sd, the http_sd document listing the metrics
	// addresses of every node and worker of the cluster. Workers serve their
	// /metrics on the same host, on ports the system picks. "off" disables
	// it. Default: 127.0.0.1:9464.
	MetricsAddr string
	// JoinTimeout bounds the retries of joining the seeds. Default: 30s.
	JoinTimeout time.Duration
	// Token is required as a bearer token by the API, and sent to peers
	// when fetching binaries. Default: none (no authentication).
	Token string
	// TrustedKey makes the node accept only binaries signed by this
	// ed25519 key. Default: none.
	TrustedKey ed25519.PublicKey
	// Slots is how many workers the node runs (cluster.Config.Slots).
	Slots int
	// GossipKey encrypts gossip; without it Insecure must be set.
	GossipKey []byte
	// Insecure allows gossip in the clear.
	Insecure bool
	// LocalGossip uses memberlist's loopback timings (fast failure
	// detection), for tests and a one-machine cluster.
	LocalGossip bool
	// Version is published in the node metadata.
	Version string
	// WorkerGrace is how long a worker has to stop after SIGTERM
	// (supervisor default).
	WorkerGrace time.Duration
	// CheckpointReplicas is how many other nodes receive a copy of every
	// checkpoint file and manifest the workers write through this node
	// before the write succeeds (capped at the alive peers; see package
	// cluster/ckptstore). Default: 2; negative: none.
	CheckpointReplicas int
	// Logger receives the node's logs. Default: slog.Default().
	Logger *slog.Logger
}

// Info says where a running node listens; Start writes it to
// DataDir/node.json.
type Info struct {
	ID         string `json:"id"`
	API        string `json:"api"`
	GossipAddr string `json:"gossip_addr"`
	// Metrics is the host:port of /metrics and /prometheus/sd, or empty.
	Metrics string `json:"metrics,omitempty"`
	PID     int    `json:"pid"`
}

// Daemon is a running node.
type Daemon struct {
	cfg    Config
	logger *slog.Logger
	node   *cluster.Node
	ckpt   *ckptstore.Server
	store  *binstore.Store
	sup    *supervisor.Supervisor
	srv    *http.Server
	ln     net.Listener
	obs    *obs.Server
	// workerMetricsAddr is what workers bind /metrics to: the metrics host,
	// port 0.
	workerMetricsAddr string
	info              Info
	client            *http.Client
	// verified caches the paths of binaries hashed since start; only the
	// reconcile goroutine uses it.
	verified map[[32]byte]string

	cancel context.CancelFunc
	wg     sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start starts a node. ctx bounds the start (joining the seeds), not the
// node's life: stop it with [Daemon.Shutdown].
func Start(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("daemon: DataDir is required")
	}
	cfg.APIAddr = cmp.Or(cfg.APIAddr, DefaultAPIAddr)
	cfg.GossipAddr = cmp.Or(cfg.GossipAddr, DefaultGossipAddr)
	cfg.DataAddr = cmp.Or(cfg.DataAddr, DefaultDataAddr)
	cfg.MetricsAddr = cmp.Or(cfg.MetricsAddr, DefaultMetricsAddr)
	if _, _, err := splitHostPort(cfg.DataAddr); err != nil {
		return nil, fmt.Errorf("daemon: DataAddr %q: %w", cfg.DataAddr, err)
	}
	cfg.JoinTimeout = cmp.Or(cfg.JoinTimeout, DefaultJoinTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	store, err := binstore.Open(filepath.Join(cfg.DataDir, "binaries"), 0)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" && !loopback(cfg.APIAddr) {
		// An open submission API runs whatever anyone uploads: that is how
		// Storm and Flink clusters have been taken over.
		return nil, fmt.Errorf("daemon: the API address %s is reachable from other machines: set a Token, or keep the API on loopback", cfg.APIAddr)
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("daemon: API listener: %w", err)
	}
	d := &Daemon{cfg: cfg, store: store, ln: ln, client: &http.Client{Timeout: 2 * time.Minute}, verified: make(map[[32]byte]string)}
	fail := func(err error) (*Daemon, error) {
		ln.Close()
		if d.obs != nil {
			d.obs.Close()
		}
		if d.sup != nil {
			_ = d.sup.Shutdown(context.Background())
		}
		if d.node != nil {
			_ = d.node.Shutdown()
		}
		return nil, err
	}
	apiAddr := cmp.Or(cfg.AdvertiseAPIAddr, ln.Addr().String())

	ccfg := cluster.Config{
		NodeID:     cfg.NodeID,
		BindAddr:   cfg.GossipAddr,
		APIAddr:    apiAddr,
		DataAddr:   cfg.DataAddr,
		Slots:      cfg.Slots,
		Version:    cfg.Version,
		GossipKey:  cfg.GossipKey,
		Insecure:   cfg.Insecure,
		Logger:     cfg.Logger,
		Registerer: reg,
	}
	if cfg.LocalGossip {
		ccfg.Memberlist = func(c *memberlist.Config) { cluster.LocalGossip(c) }
	}
	node, err := startNode(ctx, ccfg, cfg.Seeds, cfg.JoinTimeout, cfg.Logger)
	if err != nil {
		return fail(err)
	}
	d.node = node
	d.logger = cfg.Logger.With("node", node.ID())

	sup, err := supervisor.New(supervisor.Config{
		Dir:        filepath.Join(cfg.DataDir, "workers"),
		Logger:     d.logger,
		Registerer: reg,
		Grace:      cfg.WorkerGrace,
		// Workers reach their checkpoint storage through this node's API,
		// on loopback; they authenticate with their assignment's token.
		Env: []string{ckptstore.EnvNodeAPI + "=" + localURL(ln.Addr())},
	})
	if err != nil {
		return fail(err)
	}
	d.sup = sup
	// The metrics server starts first, to learn its address; it lists the
	// API server's targets once that exists.
	var targets atomic.Pointer[func() []obs.Target]
	metricsAddr := ""
	if cfg.MetricsAddr != "off" {
		host, _, err := net.SplitHostPort(cfg.MetricsAddr)
		if err != nil {
			return fail(fmt.Errorf("daemon: MetricsAddr %q: %w", cfg.MetricsAddr, err))
		}
		d.workerMetricsAddr = net.JoinHostPort(host, "0")
		list := func() []obs.Target {
			if f := targets.Load(); f != nil {
				return (*f)()
			}
			return nil
		}
		if d.obs, err = obs.Listen(cfg.MetricsAddr, obs.NewHandler(reg, list), d.logger); err != nil {
			return fail(fmt.Errorf("daemon: metrics server: %w", err))
		}
		metricsAddr = d.obs.Addr()
	}
	d.ckpt, err = ckptstore.New(ckptstore.Config{
		Dir:        filepath.Join(cfg.DataDir, "checkpoints"),
		Self:       node.ID(),
		Peers:      d.checkpointPeers,
		Replicas:   cfg.CheckpointReplicas,
		Token:      cfg.Token,
		Logger:     d.logger,
		Registerer: reg,
	})
	if err != nil {
		return fail(err)
	}
	srv, err := api.NewServer(api.Config{
		Checkpoints: d.ckpt,
		WorkerToken: d.topologyToken,
		Cluster:     node,
		Store:       store,
		Workers:     sup,
		Token:       cfg.Token,
		TrustedKey:  cfg.TrustedKey,
		Gatherer:    reg,
		MetricsAddr: metricsAddr,
		Logger:      d.logger,
	})
	if err != nil {
		return fail(err)
	}
	list := srv.ClusterTargets
	targets.Store(&list)
	d.srv = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	d.info = Info{ID: node.ID(), API: "http://" + ln.Addr().String(), GossipAddr: node.GossipAddr(), Metrics: metricsAddr, PID: os.Getpid()}
	b, _ := json.MarshalIndent(d.info, "", "  ")
	if err := supervisor.WriteFileAtomic(filepath.Join(cfg.DataDir, "node.json"), b, 0o600); err != nil {
		return fail(err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Go(func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.logger.Error("daemon: API server failed", "err", err)
		}
	})
	d.wg.Go(func() { d.reconcileLoop(runCtx) })
	d.logger.Info("node started", "api", d.info.API, "gossip", d.info.GossipAddr, "seeds", cfg.Seeds,
		"checkpoint_replicas", max(cmp.Or(cfg.CheckpointReplicas, ckptstore.DefaultReplicas), 0))
	return d, nil
}

// startNode starts the cluster node, retrying the join with backoff until
// timeout: nodes of a cluster may start in any order.
func startNode(ctx context.Context, cfg cluster.Config, seeds []string, timeout time.Duration, logger *slog.Logger) (*cluster.Node, error) {
	cfg.Seeds = seeds
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		n, err := cluster.Start(ctx, cfg)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, cluster.ErrJoin) {
			return nil, fmt.Errorf("daemon: %w", err)
		}
		logger.Warn("daemon: join failed, retrying", "seeds", seeds, "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("daemon: %w (gave up after %v)", err, timeout)
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Info returns where the node listens.
func (d *Daemon) Info() Info { return d.info }

// Node returns the cluster node.
func (d *Daemon) Node() *cluster.Node { return d.node }

// Run starts a node and runs it until ctx ends, then shuts it down. ready,
// if not nil, is called once the node is up.
func Run(ctx context.Context, cfg Config, ready func(Info)) error {
	d, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(d.Info())
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d.Shutdown(sctx)
}

// Shutdown stops the node: reconciling, the API, the workers, then gossip
// after a graceful leave. It can be called more than once.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.shutdownOnce.Do(func() {
		d.cancel()
		var errs []error
		if err := d.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			d.srv.Close()
		}
		if d.obs != nil {
			if err := d.obs.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		d.wg.Wait()
		if err := d.sup.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := d.node.Leave(2 * time.Second); err != nil && !errors.Is(err, cluster.ErrClosed) {
			d.logger.Warn("daemon: leave", "err", err)
		}
		if err := d.node.Shutdown(); err != nil {
			errs = append(errs, err)
		}
		d.logger.Info("node stopped")
		d.shutdownErr = errors.Join(errs...)
	})
	return d.shutdownErr
}

func (d *Daemon) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(retryInterval)
	defer t.Stop()
	for {
		ch := d.node.Changed()
		d.reconcile(ctx)
		d.ckpt.Prune(d.submission)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// reconcile hands the supervisor the workers the newest assignment places
// on this node, then copies the binaries of every submitted topology.
func (d *Daemon) reconcile(ctx context.Context) {
	a := d.node.Assignment()
	if a == nil || a.Placement == nil {
		return
	}
	topos := make(map[string]cluster.TopologyInfo)
	for _, t := range d.node.Topologies() {
		topos[t.Name] = t
	}
	members := d.node.Members()
	var peers []string
	dataAddr := make(map[string]string)
	for _, m := range members {
		dataAddr[m.ID] = m.Meta.DataAddr
		if m.Alive() && m.ID != d.node.ID() && m.Meta.APIAddr != "" {
			peers = append(peers, "http://"+m.Meta.APIAddr)
		}
	}
	me := d.node.ID()
	addrs := workerAddrs(a, dataAddr)
	var specs []supervisor.Spec
	for _, ref := range a.WorkersOn(me) {
		info, ok := topos[ref.Topology]
		if !ok || a.Topologies[ref.Topology] != info.Version {
			// Killed, or the assignment is for another version: wait for the
			// coordinator's next assignment.
			continue
		}
		tp := a.Placement.Topology(ref.Topology)
		if tp == nil || ref.Index >= len(tp.Workers) {
			continue
		}
		log := d.logger.With("topology", ref.Topology, "worker", ref.Index)
		bin, err := d.binary(ctx, info.BinarySHA256, peers)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("daemon: binary unavailable, will retry", "err", err)
			}
			continue
		}
		wp := tp.Workers[ref.Index]
		var conf json.RawMessage
		var par map[string]int
		if spec, err := topology.DecodeSpec(info.Spec); err == nil {
			if b, err := json.Marshal(spec.Config); err == nil {
				conf = b
			}
			par = make(map[string]int, len(spec.Components))
			for _, c := range spec.Components {
				par[string(c.ID)] = c.Parallelism
			}
		} else {
			log.Warn("daemon: undecodable spec, the worker runs its compiled configuration", "err", err)
		}
		wa := supervisor.Assignment{
			Topology:       ref.Topology,
			Worker:         ref.Index,
			Workers:        len(tp.Workers),
			Epoch:          wp.Since,
			Node:           me,
			BinarySHA256:   hex.EncodeToString(info.BinarySHA256[:]),
			Incarnation:    info.Incarnation,
			MaxParallelism: tp.MaxParallelism,
			Tasks:          taskBlocks(wp),
			MetricsAddr:    d.workerMetricsAddr,
			Config:         conf,
			Parallelism:    par,
			Token:          d.workerToken(ref.Topology, info.BinarySHA256),
		}
		for i, pw := range tp.Workers {
			wa.Peers = append(wa.Peers, supervisor.Peer{
				Worker: i, Node: pw.Node, Epoch: pw.Since, Tasks: taskBlocks(pw),
				DataAddr: addrs[cluster.WorkerRef{Topology: ref.Topology, Index: i}],
			})
		}
		specs = append(specs, supervisor.Spec{Binary: bin, Assignment: wa})
	}
	slices.SortFunc(specs, func(x, y supervisor.Spec) int {
		return cmp.Or(cmp.Compare(x.Assignment.Topology, y.Assignment.Topology), cmp.Compare(x.Assignment.Worker, y.Assignment.Worker))
	})
	if err := d.sup.Apply(specs); err != nil && !errors.Is(err, supervisor.ErrClosed) {
		d.logger.Error("daemon: apply workers", "err", err)
	}
	// Replicate every submitted binary, not only those this node runs now,
	// so that a topology survives the loss of the node it was submitted
	// to: whichever node its workers move to can fetch it from a survivor.
	for _, t := range topos {
		if ctx.Err() != nil {
			return
		}
		if _, err := d.binary(ctx, t.BinarySHA256, peers); err != nil && ctx.Err() == nil {
			d.logger.Warn("daemon: cannot replicate binary, will retry", "topology", t.Name, "err", err)
		}
	}
}

// binary returns the path of a verified local copy of the binary, fetching
// it from peers when needed.
func (d *Daemon) binary(ctx context.Context, sum [32]byte, peers []string) (string, error) {
	if p, ok := d.verified[sum]; ok {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		delete(d.verified, sum)
	}
	if d.store.Has(sum) {
		if p, err := d.store.Path(sum); err == nil {
			d.verified[sum] = p
			return p, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p, err := d.store.Fetch(ctx, d.client, d.cfg.Token, sum, peers)
	if err != nil {
		return "", err
	}
	if err := binstore.CheckExecutable(p); err != nil {
		return "", err
	}
	d.logger.Info("fetched binary", "sha256", hex.EncodeToString(sum[:]))
	d.verified[sum] = p
	return p, nil
}

func taskBlocks(wp cluster.WorkerPlacement) []supervisor.TaskBlock {
	var out []supervisor.TaskBlock
	for _, ct := range wp.Tasks {
		out = append(out, supervisor.TaskBlock{
			Component: ct.Component, First: ct.First, Count: ct.Count, FirstTask: ct.FirstTask,
			KeyGroupStart: int(ct.KeyGroups.Start), KeyGroupEnd: int(ct.KeyGroups.End),
		})
	}
	return out
}

// workerAddrs gives every placed worker its data address: the k-th worker
// of a node, ordered by fencing token, topology and index, listens on the
// node's data port + k. Every node computes the same from the same
// assignment. Ordering by fencing token first keeps the ports of running
// workers when workers are added; removing a worker may renumber the later
// ones on its node, which then restart with their topology.
func workerAddrs(a *cluster.Assignment, dataAddr map[string]string) map[cluster.WorkerRef]string {
	out := make(map[cluster.WorkerRef]string)
	if a == nil || a.Placement == nil {
		return out
	}
	nodes := make(map[string]bool)
	for _, tp := range a.Placement.Topologies {
		for _, w := range tp.Workers {
			nodes[w.Node] = true
		}
	}
	for node := range nodes {
		host, port, err := splitHostPort(dataAddr[node])
		if err != nil {
			continue
		}
		refs := a.WorkersOn(node)
		since := func(r cluster.WorkerRef) uint64 {
			w, _ := a.Worker(r.Topology, r.Index)
			return w.Since
		}
		slices.SortStableFunc(refs, func(x, y cluster.WorkerRef) int {
			return cmp.Or(cmp.Compare(since(x), since(y)), cmp.Compare(x.Topology, y.Topology), cmp.Compare(x.Index, y.Index))
		})
		for k, r := range refs {
			out[r] = net.JoinHostPort(host, strconv.Itoa(port+k))
		}
	}
	return out
}

// checkpointPeers lists the alive nodes other than this one, where
// checkpoints are replicated and looked for.
func (d *Daemon) checkpointPeers() []ckptstore.Peer {
	var out []ckptstore.Peer
	for _, m := range d.node.Members() {
		if m.Alive() && m.ID != d.node.ID() && m.Meta.APIAddr != "" {
			out = append(out, ckptstore.Peer{ID: m.ID, API: "http://" + m.Meta.APIAddr})
		}
	}
	return out
}

// submission is what the node knows of a topology, for pruning the
// checkpoints of dead submissions.
func (d *Daemon) submission(name string) (ckptstore.Submission, bool) {
	t, ok := d.node.Known(name)
	return ckptstore.Submission{Incarnation: t.Incarnation, Killed: t.Killed}, ok
}

// topologyToken is the token the workers of a submitted topology hold
// (their assignment's Token), which opens its checkpoints on the API.
func (d *Daemon) topologyToken(topology string) (string, bool) {
	for _, t := range d.node.Topologies() {
		if t.Name == topology {
			return d.workerToken(t.Name, t.BinarySHA256), true
		}
	}
	return "", false
}

// localURL is the URL at which this host reaches a listener: loopback when
// it listens on every address.
func localURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// loopback reports whether addr binds only loopback addresses.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}

// workerToken is the secret the workers of one submission of a topology
// show each other: derived from the cluster's API token, so only nodes of
// this cluster can compute it.
func (d *Daemon) workerToken(topology string, sum [32]byte) string {
	h := sha256.New()
	h.Write([]byte("gale worker link\x00" + d.cfg.Token + "\x00" + topology + "\x00"))
	h.Write(sum[:])
	return hex.EncodeToString(h.Sum(nil))
}
