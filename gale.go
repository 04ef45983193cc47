package gale

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gale-stream/gale/cluster/api"
	"github.com/gale-stream/gale/cluster/binstore"
	"github.com/gale-stream/gale/cluster/ckptstore"
	"github.com/gale-stream/gale/cluster/supervisor"
	"github.com/gale-stream/gale/runtime"
	"github.com/gale-stream/gale/topology"
)

// ErrUsage marks a command line that [Run] does not understand.
var ErrUsage = errors.New("gale: usage")

// Mode is how the program runs.
type Mode string

// Modes of a topology program.
const (
	ModeLocal  Mode = "run"
	ModeWorker Mode = "worker"
)

// Env tells an [Option]'s hook where and how the topology runs.
type Env struct {
	// Mode is ModeLocal or ModeWorker.
	Mode Mode
	// StateDir is the state directory ("" for a local run without one).
	StateDir string
	// Assignment is the worker's assignment, or nil for a local run.
	Assignment *supervisor.Assignment
	// Logger is the program's logger.
	Logger *slog.Logger
}

// Option adjusts [Main] and [Run].
type Option func(*options)

type options struct {
	whileRunning []func(ctx context.Context, env Env) error
	logger       *slog.Logger
}

// WhileRunning runs f on its own goroutine while the topology runs, locally
// or as worker 0, with a context that ends when the topology stops. An
// error it returns is logged. Programs use it to report progress or, as
// examples/wordcount-cluster does, to write a result file once their input
// is done.
func WhileRunning(f func(ctx context.Context, env Env) error) Option {
	return func(o *options) { o.whileRunning = append(o.whileRunning, f) }
}

// WithLogger sets the program's logger. Default: text on stderr at info
// level, or the level in GALE_LOG_LEVEL.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Main builds the topology of b and runs the program as its command line
// says (see the package doc), then exits: 0 on success, 2 on a usage error,
// 1 otherwise. It stops gracefully on SIGINT and SIGTERM.
func Main(b *topology.Builder, opts ...Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, b, os.Args[1:], os.Stdout, opts...)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		if errors.Is(err, ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	os.Exit(0)
}

// Run is [Main] without the exit: it runs the command args (os.Args[1:])
// for the topology of b, writing command output to stdout.
func Run(ctx context.Context, b *topology.Builder, args []string, stdout io.Writer, opts ...Option) error {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		var level slog.Level
		if v := os.Getenv("GALE_LOG_LEVEL"); v != "" {
			_ = level.UnmarshalText([]byte(v))
		}
		o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "worker" {
		return runWorker(ctx, b, args, &o)
	}
	topo, err := b.Build()
	if err != nil {
		return fmt.Errorf("build topology: %w", err)
	}
	switch cmd {
	case "run":
		return runLocal(ctx, topo, args, &o)
	case "spec":
		if len(args) > 0 {
			return fmt.Errorf("%w: spec takes no arguments", ErrUsage)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(topo.Spec())
	case "submit":
		return submit(ctx, topo, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("%w: unknown command %q\n%s", ErrUsage, cmd, usage)
	}
}

const usage = `usage:
  PROG [run] [--state-dir DIR] [--metrics-addr ADDR]  run the topology in this process
  PROG spec                                           print the topology spec (JSON)
  PROG submit --node URL [--token T] [--name N] [--workers W] [--config JSON] [--sign-key FILE]
                                                      submit this binary to a gale cluster
  PROG worker --assignment FILE                       run as a cluster worker
`

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", ErrUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

func runLocal(ctx context.Context, topo *topology.Topology, args []string, o *options) error {
	fs := newFlagSet("run")
	stateDir := fs.String("state-dir", "", "keyed state and checkpoints (default: a temporary directory)")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics on this address")
	if err := parse(fs, args); err != nil {
		return err
	}
	env := Env{Mode: ModeLocal, StateDir: *stateDir, Logger: o.logger}
	return runTopology(ctx, topo, env, *metricsAddr, runtime.Options{StateDir: *stateDir}, o)
}

func runWorker(ctx context.Context, b *topology.Builder, args []string, o *options) error {
	fs := newFlagSet("worker")
	path := fs.String("assignment", os.Getenv(supervisor.EnvAssignment), "assignment file (env "+supervisor.EnvAssignment+")")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: worker: --assignment is required", ErrUsage)
	}
	a, err := supervisor.ReadAssignment(*path)
	if err != nil {
		return err
	}
	logger := o.logger.With("topology", a.Topology, "worker", a.Worker, "epoch", a.Epoch)
	o.logger = logger
	if len(a.Config) > 0 {
		// The configuration as submitted, overrides included; it is
		// complete (defaults applied), so it replaces the compiled one.
		var sc topology.SpecConfig
		if err := json.Unmarshal(a.Config, &sc); err != nil {
			return fmt.Errorf("%w: config: %w", supervisor.ErrBadAssignment, err)
		}
		b.SetConfig(sc.ToConfig())
	}
	if a.Topology != "" {
		// Run under the submitted name, so that metrics, logs and state
		// carry the name the cluster knows the topology by.
		b.SetName(a.Topology)
	}
	for c, n := range a.Parallelism {
		b.SetParallelism(topology.ComponentID(c), n)
	}
	topo, err := b.Build()
	if err != nil {
		return fmt.Errorf("build topology: %w", err)
	}
	if err := checkTasks(topo, a); err != nil {
		return err
	}
	if err := os.MkdirAll(a.StateDir, 0o700); err != nil {
		return err
	}
	env := Env{Mode: ModeWorker, StateDir: a.StateDir, Assignment: a, Logger: logger}
	ropts := runtime.Options{StateDir: a.StateDir, Epoch: a.Epoch}
	if nodeAPI := os.Getenv(ckptstore.EnvNodeAPI); nodeAPI != "" {
		// Under a node: checkpoints go through it to replicas on other
		// nodes, so they outlive this one. A lone worker keeps them as
		// worker 0 of several would, so rebalancing restores either way.
		// Each submission of a name has checkpoints of its own.
		ropts.Space = ckptstore.NewSpace(nodeAPI, a.Token, a.Topology, nil).WithIncarnation(a.Incarnation)
	}
	if a.Workers > 1 {
		plan, err := WorkerPlan(a)
		if err != nil {
			return err
		}
		ropts.Worker = plan
		logger.Info("worker starting", "workers", a.Workers, "listen", plan.Workers[plan.Index], "state_dir", a.StateDir)
	} else {
		logger.Info("worker starting", "state_dir", a.StateDir)
	}
	return runTopology(ctx, topo, env, a.MetricsAddr, ropts, o)
}

// checkTasks checks that the topology this binary builds numbers its tasks
// as the assignment does; a mismatch means the binary is not the one the
// cluster computed the placement for.
func checkTasks(topo *topology.Topology, a *supervisor.Assignment) error {
	for _, p := range a.Peers {
		for _, tb := range p.Tasks {
			tasks := topo.Tasks(topology.ComponentID(tb.Component))
			if tb.First < 0 || tb.Count < 0 || tb.First+tb.Count > len(tasks) || (tb.Count > 0 && tasks[tb.First] != topology.TaskID(tb.FirstTask)) {
				return fmt.Errorf("%w: worker %d runs tasks %d..%d of %s from task id %d, which this binary's topology (%d tasks of %s) does not have",
					supervisor.ErrBadAssignment, p.Worker, tb.First, tb.First+tb.Count-1, tb.Component, tb.FirstTask, len(tasks), tb.Component)
			}
		}
	}
	return nil
}

// WorkerPlan turns a worker's assignment into the runtime's plan for a
// topology spread over several workers: every worker's data address, the
// worker of every task, and the topology-wide epoch the workers' links
// carry (the newest fencing token among them, so workers of one placement
// accept each other, and a worker of an older placement is refused).
func WorkerPlan(a *supervisor.Assignment) (*runtime.WorkerPlan, error) {
	p := &runtime.WorkerPlan{
		Index:   a.Worker,
		Workers: make([]string, a.Workers),
		Tasks:   make(map[topology.TaskID]int),
		Token:   a.Token,
	}
	for _, peer := range a.Peers {
		if peer.Worker < 0 || peer.Worker >= a.Workers {
			return nil, fmt.Errorf("%w: peer worker %d of %d", supervisor.ErrBadAssignment, peer.Worker, a.Workers)
		}
		p.Workers[peer.Worker] = peer.DataAddr
		p.Epoch = max(p.Epoch, peer.Epoch)
		for _, tb := range peer.Tasks {
			for i := range tb.Count {
				p.Tasks[topology.TaskID(tb.FirstTask)+topology.TaskID(i)] = peer.Worker
			}
		}
	}
	for i, addr := range p.Workers {
		if addr == "" {
			return nil, fmt.Errorf("%w: no data address for worker %d (does its node publish a data address?)", supervisor.ErrBadAssignment, i)
		}
	}
	return p, nil
}

func runTopology(ctx context.Context, topo *topology.Topology, env Env, metricsAddr string, ropts runtime.Options, o *options) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ropts.Registerer = reg
	ropts.Logger = o.logger
	if metricsAddr != "" {
		stop, err := serveMetrics(reg, metricsAddr, env.StateDir, o.logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	hookCtx, hookCancel := context.WithCancel(runCtx)
	for _, f := range o.whileRunning {
		wg.Go(func() {
			if err := f(hookCtx, env); err != nil && hookCtx.Err() == nil {
				o.logger.Error("gale: while-running hook failed", "err", err)
			}
		})
	}
	err := runtime.Run(runCtx, topo, ropts)
	hookCancel()
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// serveMetrics serves reg on addr and, when dir is set, writes the bound
// address to dir/metrics.addr for the node to find.
func serveMetrics(reg *prometheus.Registry, addr, dir string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	if dir != "" {
		if err := supervisor.WriteFileAtomic(filepath.Join(dir, "metrics.addr"), []byte(ln.Addr().String()), 0o600); err != nil {
			ln.Close()
			return nil, err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "err", err)
		}
	}()
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return func() { srv.Close(); <-done }, nil
}

func submit(ctx context.Context, topo *topology.Topology, args []string, stdout io.Writer) error {
	fs := newFlagSet("submit")
	node := fs.String("node", envOr("GALE_NODE", "http://127.0.0.1:7070"), "node API URL (env GALE_NODE)")
	fs.StringVar(node, "cluster", *node, "same as --node")
	token := fs.String("token", os.Getenv("GALE_TOKEN"), "API bearer token (env GALE_TOKEN)")
	name := fs.String("name", "", "topology name (default: the topology's own, "+topo.Name()+")")
	workers := fs.Int("workers", 0, "worker processes (default: the topology's config)")
	signKey := fs.String("sign-key", os.Getenv("GALE_SIGN_KEY"), "ed25519 private key file to sign the binary with (env GALE_SIGN_KEY)")
	config := fs.String("config", "", "topology config overrides as a JSON object of spec config fields")
	if err := parse(fs, args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("submit: find own executable: %w", err)
	}
	t, err := SubmitFile(ctx, exe, api.Client{BaseURL: *node, Token: *token}, api.SubmitOptions{Name: *name, Workers: *workers, Config: *config}, *signKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "submitted %s (%d workers, binary %s)\n", t.Name, t.Workers, t.BinarySHA256[:12])
	return nil
}

// SubmitFile submits the binary at path with c, signing its sha256 with the
// ed25519 private key in signKeyFile when that is not empty (see
// [ReadPrivateKey]).
func SubmitFile(ctx context.Context, path string, c api.Client, opts api.SubmitOptions, signKeyFile string) (*api.Topology, error) {
	sum, err := api.FileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	opts.SHA256 = &sum
	if signKeyFile != "" {
		key, err := ReadPrivateKey(signKeyFile)
		if err != nil {
			return nil, err
		}
		opts.Signature = binstore.Sign(key, sum)
	}
	return c.Submit(ctx, path, opts)
}

// ReadPrivateKey reads an ed25519 private key file: the 32-byte seed or the
// 64-byte key, in hex or base64 (surrounding space ignored).
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := readKey(path)
	if err != nil {
		return nil, err
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("key %s: %d bytes, want an ed25519 seed (32) or private key (64)", path, len(b))
}

// ReadPublicKey reads an ed25519 public key file (32 bytes, hex or base64).
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readKey(path)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %s: %d bytes, want an ed25519 public key (32)", path, len(b))
	}
	return ed25519.PublicKey(b), nil
}

func readKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	s := strings.TrimSpace(string(raw))
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return nil, fmt.Errorf("key %s: neither hex nor base64", path)
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
