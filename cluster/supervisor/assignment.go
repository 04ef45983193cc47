package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvAssignment is the environment variable that holds the path of a
// worker's assignment file.
const EnvAssignment = "GALE_WORKER_ASSIGNMENT"

// Assignment is what a worker process is told about its place in the
// cluster. It travels as JSON in a file.
type Assignment struct {
	// Topology is the topology's name.
	Topology string `json:"topology"`
	// Worker is this worker's index, in [0, Workers).
	Worker int `json:"worker"`
	// Workers is the topology's number of workers.
	Workers int `json:"workers"`
	// Epoch is the worker's fencing token (cluster.WorkerPlacement.Since):
	// it stamps checkpoints and state writes with it.
	Epoch uint64 `json:"epoch"`
	// Node is the id of the node that runs the worker.
	Node string `json:"node"`
	// BinarySHA256 is the hex sha256 of the topology binary.
	BinarySHA256 string `json:"binary_sha256"`
	// Incarnation identifies the submission the worker belongs to
	// (cluster.TopologyInfo.Incarnation); its checkpoints are kept under it.
	Incarnation string `json:"incarnation,omitempty"`
	// MaxParallelism is the topology's number of key groups.
	MaxParallelism int `json:"max_parallelism"`
	// Tasks are the blocks of tasks this worker runs, per component.
	Tasks []TaskBlock `json:"tasks,omitempty"`
	// Peers are every worker of the topology, this one included.
	Peers []Peer `json:"peers,omitempty"`
	// StateDir is the worker's own directory for keyed state and
	// checkpoints; it survives restarts of the process.
	StateDir string `json:"state_dir"`
	// MetricsAddr is where the worker serves /metrics; "127.0.0.1:0" picks
	// a port, which the worker writes to StateDir/metrics.addr.
	MetricsAddr string `json:"metrics_addr,omitempty"`
	// Token is the secret the topology's workers show each other when they
	// link up; the file is readable by the node's user only.
	Token string `json:"token,omitempty"`
	// Config is the topology's configuration as submitted (a JSON
	// topology.SpecConfig, with any overrides given at submission), which
	// the worker runs with instead of the one compiled in. Empty means the
	// compiled one.
	Config json.RawMessage `json:"config,omitempty"`
	// Parallelism is every component's parallelism as the cluster runs the
	// topology (`gale rebalance --parallelism` may have changed it from the
	// compiled one); the worker builds its topology with it, so that task
	// ids agree with Tasks and Peers.
	Parallelism map[string]int `json:"parallelism,omitempty"`
}

// TaskBlock is a contiguous block of one component's tasks.
type TaskBlock struct {
	Component string `json:"component"`
	// First and Count give the task indices [First, First+Count).
	First int `json:"first"`
	Count int `json:"count"`
	// FirstTask is the task id of task index First.
	FirstTask int32 `json:"first_task"`
	// KeyGroupStart and KeyGroupEnd give the key groups [Start, End).
	KeyGroupStart int `json:"key_group_start"`
	KeyGroupEnd   int `json:"key_group_end"`
}

// Peer is one worker of the topology: where it runs and what it runs.
type Peer struct {
	Worker int    `json:"worker"`
	Node   string `json:"node"`
	// DataAddr is the host:port the worker's transport listens on, which
	// the others connect to.
	DataAddr string `json:"data_addr,omitempty"`
	// Epoch is the worker's fencing token.
	Epoch uint64 `json:"epoch"`
	// Tasks are the blocks of tasks the worker runs.
	Tasks []TaskBlock `json:"tasks,omitempty"`
}

// Bounds that keep a corrupt assignment file from making a worker allocate
// without limit.
const (
	maxWorkers = 1 << 16
	maxTasks   = 1 << 16
)

// Validate reports what is missing from a or out of range.
func (a *Assignment) Validate() error {
	var errs []error
	if a.Topology == "" {
		errs = append(errs, errors.New("no topology"))
	}
	if a.Workers < 1 || a.Worker < 0 || a.Worker >= a.Workers {
		errs = append(errs, fmt.Errorf("worker %d of %d", a.Worker, a.Workers))
	}
	if a.StateDir == "" {
		errs = append(errs, errors.New("no state dir"))
	}
	if a.Workers > maxWorkers {
		errs = append(errs, fmt.Errorf("%d workers, at most %d", a.Workers, maxWorkers))
	}
	checkBlocks := func(who string, bs []TaskBlock) {
		for _, b := range bs {
			if b.Count < 0 || b.Count > maxTasks || b.First < 0 || b.FirstTask < 0 || int64(b.FirstTask)+int64(b.Count) > 1<<31-1 {
				errs = append(errs, fmt.Errorf("%s: component %q: bad task block (first %d, count %d, first task %d)", who, b.Component, b.First, b.Count, b.FirstTask))
			}
		}
	}
	checkBlocks("this worker", a.Tasks)
	for _, p := range a.Peers {
		if p.Worker < 0 || p.Worker >= max(a.Workers, 1) {
			errs = append(errs, fmt.Errorf("peer worker %d of %d", p.Worker, a.Workers))
		}
		checkBlocks(fmt.Sprintf("peer %d", p.Worker), p.Tasks)
	}
	for c, n := range a.Parallelism {
		if n < 1 || n > maxTasks {
			errs = append(errs, fmt.Errorf("component %q: parallelism %d", c, n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadAssignment, err)
	}
	return nil
}

// ReadAssignment reads and validates an assignment file.
func ReadAssignment(path string) (*Assignment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAssignment, err)
	}
	var a Assignment
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadAssignment, path, err)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &a, nil
}

// WriteFileAtomic writes b to path through a temporary file and a rename,
// so readers never see a partial file.
func WriteFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
