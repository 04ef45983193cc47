package supervisor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of [Config].
const (
	DefaultGrace       = 10 * time.Second
	DefaultBackoffMin  = 250 * time.Millisecond
	DefaultBackoffMax  = 30 * time.Second
	DefaultStableAfter = 10 * time.Second
	// MaxLogSize is the size past which a worker's log is rotated when the
	// process starts.
	MaxLogSize = 64 << 20
)

// Config configures a [Supervisor]. Zero fields take the defaults named in
// their comments.
type Config struct {
	// Dir is the root of the workers' directories:
	// Dir/TOPOLOGY/INDEX/{assignment.json,worker.log,state}. Required.
	Dir string
	// Logger receives the supervisor's logs. Default: slog.Default().
	Logger *slog.Logger
	// Registerer registers the metrics. Default: none.
	Registerer prometheus.Registerer
	// Grace is how long a worker has to exit after SIGTERM before it is
	// killed. Default: 10s.
	Grace time.Duration
	// BackoffMin and BackoffMax bound the delay before a worker that exited
	// is started again; it doubles after each exit. Default: 250ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// StableAfter is how long a worker must run before its backoff resets.
	// Default: 10s.
	StableAfter time.Duration
	// Env is added to every worker's environment: the node's own
	// environment without its GALE_* variables but GALE_LOG_LEVEL (the
	// node's settings include secrets, GALE_TOKEN and GALE_GOSSIP_KEY, that
	// user code must not see), then Env.
	Env []string
}

// Spec is a worker this node should run.
type Spec struct {
	// Binary is the path of the topology binary.
	Binary string
	// Assignment is handed to the worker. Its StateDir and MetricsAddr are
	// filled in by the supervisor when empty.
	Assignment Assignment
}

// Key identifies a worker: topology name and index.
type Key struct {
	Topology string
	Worker   int
}

func (k Key) String() string { return k.Topology + "/" + strconv.Itoa(k.Worker) }

// State is the state of a worker's process.
type State string

// States of a worker.
const (
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateBackoff  State = "backoff"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
)

// Status is what [Supervisor.Status] reports about one worker.
type Status struct {
	Topology  string    `json:"topology"`
	Worker    int       `json:"worker"`
	Epoch     uint64    `json:"epoch"`
	State     State     `json:"state"`
	PID       int       `json:"pid,omitempty"`
	Restarts  int       `json:"restarts"`
	LastExit  string    `json:"last_exit,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Log       string    `json:"log"`
	StateDir  string    `json:"state_dir"`
	// MetricsAddr is where the worker serves /metrics, once it has said so.
	MetricsAddr string `json:"metrics_addr,omitempty"`
}

// Supervisor runs worker processes. Its methods are safe for concurrent use.
type Supervisor struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics

	mu struct {
		sync.Mutex
		closed  bool
		workers map[Key]*worker
	}
	wg sync.WaitGroup
}

// New returns a supervisor running no workers.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Dir == "" {
		return nil, errors.New("supervisor: no Dir")
	}
	cfg.Grace = cmp.Or(cfg.Grace, DefaultGrace)
	cfg.BackoffMin = cmp.Or(cfg.BackoffMin, DefaultBackoffMin)
	cfg.BackoffMax = cmp.Or(cfg.BackoffMax, DefaultBackoffMax)
	cfg.StableAfter = cmp.Or(cfg.StableAfter, DefaultStableAfter)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, logger: cfg.Logger, metrics: m}
	s.mu.workers = make(map[Key]*worker)
	return s, nil
}

// Apply makes the supervisor run exactly the given workers: it starts the
// new ones, stops those not listed, and restarts those whose binary or
// assignment changed (the new process starts once the old one has exited,
// so they never share a state directory). It does not wait for processes to
// start or stop.
func (s *Supervisor) Apply(specs []Spec) error {
	want := make(map[Key]Spec, len(specs))
	for _, sp := range specs {
		a := &sp.Assignment
		k := Key{a.Topology, a.Worker}
		dir := s.workerDir(k)
		if a.StateDir == "" {
			a.StateDir = filepath.Join(dir, "state")
		}
		if a.MetricsAddr == "" {
			a.MetricsAddr = "127.0.0.1:0"
		}
		if err := a.Validate(); err != nil {
			return fmt.Errorf("supervisor: worker %s: %w", k, err)
		}
		want[k] = sp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	for k, w := range s.mu.workers {
		sp, ok := want[k]
		if ok && sp.Binary == w.spec.Binary && sameAssignment(sp.Assignment, w.spec.Assignment) {
			delete(want, k)
			continue
		}
		w.requestStop()
		if !ok {
			delete(s.mu.workers, k)
		}
	}
	for k, sp := range want {
		var prev <-chan struct{}
		if old, ok := s.mu.workers[k]; ok {
			prev = old.done
		}
		w := s.newWorker(k, sp)
		s.mu.workers[k] = w
		s.wg.Go(func() { w.run(prev) })
	}
	return nil
}

func sameAssignment(a, b Assignment) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Status reports every worker, sorted by topology and index.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	ws := make([]*worker, 0, len(s.mu.workers))
	for _, w := range s.mu.workers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	out := make([]Status, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.status())
	}
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(cmp.Compare(a.Topology, b.Topology), cmp.Compare(a.Worker, b.Worker))
	})
	return out
}

// Shutdown stops every worker (SIGTERM, then SIGKILL after the grace
// period or when ctx ends) and waits for them. It can be called more than
// once; afterwards Apply returns ErrClosed.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.mu.closed = true
	for k, w := range s.mu.workers {
		w.requestStop()
		delete(s.mu.workers, k)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.metrics.unregister()
		return nil
	case <-ctx.Done():
		// Workers kill their processes at the end of the grace period; there
		// is nothing faster to do than wait.
		<-done
		s.metrics.unregister()
		return ctx.Err()
	}
}

func (s *Supervisor) workerDir(k Key) string {
	return filepath.Join(s.cfg.Dir, safeName(k.Topology), strconv.Itoa(k.Worker))
}

// safeName keeps a topology name usable as a directory name.
func safeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c == '-' || c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

// LogPath returns the log file of a worker.
func (s *Supervisor) LogPath(k Key) string { return filepath.Join(s.workerDir(k), "worker.log") }

func (s *Supervisor) newWorker(k Key, sp Spec) *worker {
	dir := s.workerDir(k)
	return &worker{
		s:      s,
		key:    k,
		spec:   sp,
		dir:    dir,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		logger: s.logger.With("topology", k.Topology, "worker", k.Worker, "epoch", sp.Assignment.Epoch),
	}
}

// worker owns one worker's process; its run goroutine is the only one that
// starts or signals the process.
type worker struct {
	s      *Supervisor
	key    Key
	spec   Spec
	dir    string
	logger *slog.Logger

	stopOnce sync.Once
	stop     chan struct{} // closed to stop
	done     chan struct{} // closed when run returns and the process is gone

	mu struct {
		sync.Mutex
		state     State
		pid       int
		restarts  int
		lastExit  string
		startedAt time.Time
	}
}

func (w *worker) requestStop() { w.stopOnce.Do(func() { close(w.stop) }) }

func (w *worker) setState(st State, pid int) {
	w.mu.Lock()
	w.mu.state = st
	w.mu.pid = pid
	if st == StateRunning {
		w.mu.startedAt = time.Now()
	}
	w.mu.Unlock()
}

func (w *worker) status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.spec.Assignment
	st := Status{
		Topology:  w.key.Topology,
		Worker:    w.key.Worker,
		Epoch:     a.Epoch,
		State:     w.mu.state,
		PID:       w.mu.pid,
		Restarts:  w.mu.restarts,
		LastExit:  w.mu.lastExit,
		StartedAt: w.mu.startedAt,
		Log:       filepath.Join(w.dir, "worker.log"),
		StateDir:  a.StateDir,
	}
	if st.State == "" {
		st.State = StateStarting
	}
	if b, err := os.ReadFile(filepath.Join(a.StateDir, "metrics.addr")); err == nil {
		st.MetricsAddr = string(b)
	}
	return st
}

func (w *worker) run(prev <-chan struct{}) {
	defer close(w.done)
	defer w.setState(StateStopped, 0)
	if prev != nil {
		select {
		case <-prev:
		case <-w.stop:
			return
		}
	}
	backoff := w.s.cfg.BackoffMin
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		started := time.Now()
		exitErr, stopped := w.runOnce()
		if stopped {
			return
		}
		msg := "exited"
		if exitErr != nil {
			msg = exitErr.Error()
		}
		w.mu.Lock()
		w.mu.restarts++
		w.mu.lastExit = msg
		w.mu.Unlock()
		w.s.metrics.restarts.WithLabelValues(w.key.Topology).Inc()
		if time.Since(started) >= w.s.cfg.StableAfter {
			backoff = w.s.cfg.BackoffMin
		}
		w.logger.Warn("worker exited, restarting", "err", msg, "backoff", backoff)
		w.setState(StateBackoff, 0)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
			return
		}
		backoff = min(2*backoff, w.s.cfg.BackoffMax)
	}
}

// runOnce starts the process and waits until it exits (returning why) or
// until the worker is stopped (stopping the process and returning true).
func (w *worker) runOnce() (exitErr error, stopped bool) {
	w.setState(StateStarting, 0)
	cmd, logf, err := w.start()
	if err != nil {
		return err, false
	}
	defer logf.Close()
	w.setState(StateRunning, cmd.Process.Pid)
	w.s.metrics.running.WithLabelValues(w.key.Topology).Inc()
	defer w.s.metrics.running.WithLabelValues(w.key.Topology).Dec()
	w.logger.Info("worker started", "pid", cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			return errors.New("exited with status 0"), false
		}
		return err, false
	case <-w.stop:
	}
	w.setState(StateStopping, cmd.Process.Pid)
	_ = terminate(cmd.Process)
	t := time.NewTimer(w.s.cfg.Grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		w.logger.Warn("worker did not stop in time, killing", "grace", w.s.cfg.Grace)
		_ = cmd.Process.Kill()
		<-exited
	}
	w.logger.Info("worker stopped")
	return nil, true
}

func (w *worker) start() (*exec.Cmd, *os.File, error) {
	a := w.spec.Assignment
	if err := os.MkdirAll(a.StateDir, 0o700); err != nil {
		return nil, nil, err
	}
	_ = os.Remove(filepath.Join(a.StateDir, "metrics.addr"))
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(w.dir, "assignment.json")
	if err := WriteFileAtomic(path, b, 0o600); err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(w.dir, "worker.log")
	// Keep the log bounded: past MaxLogSize it moves to worker.log.1 when
	// the process (re)starts, replacing the previous one.
	if fi, err := os.Stat(logPath); err == nil && fi.Size() > MaxLogSize {
		_ = os.Rename(logPath, logPath+".1")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(logf, "--- %s supervisor: starting worker %s epoch %d\n", time.Now().UTC().Format(time.RFC3339Nano), w.key, a.Epoch)
	// exec.Command without a context: the worker goroutine owns the
	// process's lifetime and stops it with SIGTERM first.
	cmd := exec.Command(w.spec.Binary, "worker", "--assignment", path)
	cmd.Dir = w.dir
	cmd.Env = append(append(workerEnviron(), w.s.cfg.Env...), EnvAssignment+"="+path)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("supervisor: start %s: %w", w.spec.Binary, err)
	}
	return cmd, logf, nil
}

// workerEnviron returns the node's environment without its GALE_*
// variables, except the log level, which workers share with their node.
func workerEnviron() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool {
		return strings.HasPrefix(kv, "GALE_") && !strings.HasPrefix(kv, "GALE_LOG_LEVEL=")
	})
}
