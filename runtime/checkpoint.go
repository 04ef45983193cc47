package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/promreg"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// coordinator triggers the checkpoints of an ExactlyOnce topology, after
// Flink's asynchronous barrier snapshots. Every interval it starts
// checkpoint n by telling each spout task, which snapshots its position and
// sends barrier n downstream behind its tuples. Each bolt task aligns the
// barriers of its inputs, snapshots, and passes the barrier on. When every
// task has reported, the coordinator takes the worker's state checkpoint
// (see state.Store.Checkpoint); only then is checkpoint n complete, and
// every task hears of it (a Kafka spout commits its offsets there). One
// checkpoint is in flight at a time.
type coordinator struct {
	l        *Local
	interval time.Duration
	acks     *ctrlQueue[ckptAck]
	tasks    int // spout and bolt tasks that must report

	// In a topology placed in several workers, the leader worker decides
	// (see session.go): cmds brings its trigger, complete and abort
	// commands, and report tells it that this worker's part of a
	// checkpoint is stored, or failed. Both are nil in one worker, where
	// the coordinator triggers on its own ticker and completes a
	// checkpoint as soon as its store has it.
	cmds   *ctrlQueue[ckptCmd]
	report func(id uint64, err error)
	// commit, when set, records a checkpoint of a lone worker in a shared
	// checkpoint space as complete, before the tasks hear of it.
	commit func(ctx context.Context, id uint64) error
	// floor is the newest checkpoint id already in storage; ids continue
	// after it.
	floor uint64
	// early holds reports on checkpoints newer than the one in flight:
	// in several workers, barriers from another worker's spouts can reach
	// this worker's tasks before the leader's trigger reaches its
	// coordinator. They count once the trigger arrives.
	early []ckptAck
	// lastTriggered is the newest checkpoint triggered here.
	lastTriggered uint64
	// stored is the local manifest of the checkpoint this worker stored
	// and reported, until the leader completes or abandons it.
	stored *state.Manifest

	// Owned by the coordinator goroutine.
	next     uint64
	inFlight uint64
	started  time.Time
	reported map[topology.TaskID]bool
	failed   error

	mu struct {
		sync.Mutex
		lastComplete     uint64
		lastCompleteTime time.Time
	}
	m *ckptMetrics
}

// ckptCmd is a command from the leader worker about checkpoint id.
type ckptCmd struct {
	op coordOp // coordTrigger, coordComplete or coordAbort
	id uint64
}

// ckptAck is a task's report on checkpoint id.
type ckptAck struct {
	id   uint64
	task topology.TaskID
	err  error
}

type ckptMetrics struct {
	duration  prometheus.Histogram
	size      prometheus.Gauge
	uploaded  prometheus.Gauge
	completed prometheus.Counter
	failed    prometheus.Counter
	alignment *prometheus.HistogramVec
	// age is the time since the last complete checkpoint, set by the
	// coordinator on every tick (a gauge rather than a function, so that a
	// restarted topology's coordinator takes it over).
	age prometheus.Gauge
}

func newCkptMetrics(reg prometheus.Registerer, topo string) (*ckptMetrics, error) {
	m := &ckptMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gale", Subsystem: "checkpoint", Name: "duration_seconds",
			Help:    "Time from triggering a checkpoint to its completion.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "checkpoint", Name: "size_bytes",
			Help: "Size of the last complete checkpoint of this worker's state.",
		}),
		uploaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "checkpoint", Name: "uploaded_bytes",
			Help: "Bytes the last complete checkpoint copied to checkpoint storage (the rest was already there).",
		}),
		completed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "checkpoint", Name: "completed_total",
			Help: "Checkpoints that completed.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "checkpoint", Name: "failed_total",
			Help: "Checkpoints that failed or were abandoned.",
		}),
		alignment: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gale", Subsystem: "checkpoint", Name: "alignment_seconds",
			Help:    "Time a task spent aligning the barriers of its inputs.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"component", "task"}),
		age: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "checkpoint", Name: "age_seconds",
			Help: "Time since the last complete checkpoint (since start, before the first), updated every checkpoint interval.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"topology": topo}, reg)
	var err error
	m.duration = promreg.Register(reg, m.duration, &err)
	m.size = promreg.Register(reg, m.size, &err)
	m.uploaded = promreg.Register(reg, m.uploaded, &err)
	m.completed = promreg.Register(reg, m.completed, &err)
	m.failed = promreg.Register(reg, m.failed, &err)
	m.alignment = promreg.Register(reg, m.alignment, &err)
	m.age = promreg.Register(reg, m.age, &err)
	return m, err
}

// checkpointTimeout bounds how long a checkpoint may take before it is
// abandoned, so a stuck task cannot stop checkpointing for good.
func (c *coordinator) checkpointTimeout() time.Duration {
	return max(10*c.interval, time.Minute)
}

func (c *coordinator) run() {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	var cmds <-chan struct{}
	if c.cmds != nil {
		cmds = c.cmds.signal
	}
	for {
		select {
		case <-tick.C:
			c.mu.Lock()
			c.m.age.Set(time.Since(c.mu.lastCompleteTime).Seconds())
			c.mu.Unlock()
			if c.cmds == nil {
				c.maybeTrigger()
			} else if c.inFlight != 0 && time.Since(c.started) > c.checkpointTimeout() {
				c.abandon(fmt.Errorf("not every task reported within %v", c.checkpointTimeout()))
			}
		case <-cmds:
			for _, cmd := range c.cmds.popAll() {
				c.command(cmd)
			}
		case <-c.acks.signal:
			for _, a := range c.acks.popAll() {
				c.ack(a)
			}
		case <-c.l.stopSpouts:
			if c.inFlight != 0 {
				c.abandon(fmt.Errorf("topology stopping"))
			}
			return
		case <-c.l.kill:
			return
		}
	}
}

func (c *coordinator) maybeTrigger() {
	if c.inFlight != 0 {
		if time.Since(c.started) > c.checkpointTimeout() {
			c.abandon(fmt.Errorf("not every task reported within %v", c.checkpointTimeout()))
		}
		return
	}
	c.next = max(c.next, c.floor) + 1
	c.trigger(c.next)
}

// trigger starts checkpoint id at the spout tasks.
func (c *coordinator) trigger(id uint64) {
	c.inFlight = id
	c.lastTriggered = id
	c.started = time.Now()
	c.reported = make(map[topology.TaskID]bool, c.tasks)
	c.failed = nil
	for _, e := range c.l.spouts {
		e.in.ctrl.push(ctrlMsg{kind: ctrlCheckpoint, id: c.inFlight})
	}
	if c.tasks == 0 {
		c.finish() // a worker without tasks of its own
		return
	}
	early := c.early
	c.early = nil
	for _, a := range early {
		switch {
		case a.id == id:
			c.ack(a)
		case a.id > id:
			c.early = append(c.early, a)
		}
	}
}

// command carries out the leader's command.
func (c *coordinator) command(cmd ckptCmd) {
	switch cmd.op {
	case coordTrigger:
		if c.inFlight != 0 {
			c.abandon(fmt.Errorf("the leader started checkpoint %d", cmd.id))
		}
		c.stored = nil
		c.trigger(cmd.id)
	case coordComplete:
		if c.stored != nil && c.stored.ID == cmd.id {
			c.l.store.SetCommitted(cmd.id)
			c.complete(c.stored)
		}
		c.stored = nil
	case coordAbort:
		c.early = slices.DeleteFunc(c.early, func(a ckptAck) bool { return a.id <= cmd.id })
		if c.inFlight == cmd.id {
			c.abandon(errors.New("the leader abandoned it"))
		}
		if c.stored != nil && c.stored.ID == cmd.id {
			c.m.failed.Inc()
			c.stored = nil
		}
	}
}

func (c *coordinator) ack(a ckptAck) {
	if a.id > c.lastTriggered {
		c.early = append(c.early, a) // the trigger is on its way
		return
	}
	if a.id != c.inFlight || c.reported[a.task] {
		return // a report on an abandoned checkpoint
	}
	c.reported[a.task] = true
	if a.err != nil && c.failed == nil {
		c.failed = a.err
	}
	if len(c.reported) < c.tasks {
		return
	}
	c.finish()
}

// finish takes the store's checkpoint once every task has reported.
func (c *coordinator) finish() {
	id := c.inFlight
	if c.failed != nil {
		c.abandon(c.failed)
		c.reportTo(id, c.failed)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.checkpointTimeout())
	m, err := c.l.store.Checkpoint(ctx, id, c.l.storage)
	cancel()
	if err != nil {
		c.abandon(err)
		c.reportTo(id, err)
		return
	}
	if c.commit != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.checkpointTimeout())
		err := c.commit(ctx, id)
		cancel()
		if err != nil {
			c.abandon(fmt.Errorf("record the checkpoint as complete: %w", err))
			return
		}
	}
	c.inFlight = 0
	if c.report != nil {
		// Complete only when every worker has stored its part.
		c.stored = m
		c.report(id, nil)
		return
	}
	c.complete(m)
}

func (c *coordinator) reportTo(id uint64, err error) {
	if c.report != nil {
		c.report(id, err)
	}
}

// complete finishes checkpoint m.ID: it is the one to restore from now on,
// and every task hears of it.
func (c *coordinator) complete(m *state.Manifest) {
	id := m.ID
	now := time.Now()
	c.m.duration.Observe(now.Sub(c.started).Seconds())
	c.m.size.Set(float64(m.TotalBytes))
	c.m.uploaded.Set(float64(m.UploadedBytes))
	c.m.completed.Inc()
	c.mu.Lock()
	c.mu.lastComplete, c.mu.lastCompleteTime = id, now
	c.mu.Unlock()
	c.m.age.Set(0)
	c.l.log.Debug("checkpoint complete", "checkpoint", id, "bytes", m.TotalBytes, "uploaded", m.UploadedBytes)
	for _, e := range c.l.spouts {
		e.in.ctrl.push(ctrlMsg{kind: ctrlCheckpointDone, id: id})
	}
	for _, e := range c.l.bolts {
		e.in.ctrl.push(ctrlMsg{kind: ctrlCheckpointDone, id: id})
	}
}

// abandon gives up on the checkpoint in flight: the state of the previous
// one stays the one to restore, and the next one starts on the next tick.
func (c *coordinator) abandon(err error) {
	c.l.log.Warn("checkpoint failed", "checkpoint", c.inFlight, "err", err)
	c.m.failed.Inc()
	c.l.store.ReleaseCheckpoint(c.inFlight)
	c.inFlight = 0
}

// lastComplete returns the id of the last complete checkpoint, 0 for none.
func (c *coordinator) lastComplete() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.lastComplete
}

// snapshotTask takes the task's part of checkpoint id: the component's own
// snapshot (as operator state) and its keyed state's write-back cache, then
// reports to the coordinator. It runs on the task's goroutine, after the
// task flushed its output batches and before it sends the barrier on.
func (e *executor) snapshotTask(id uint64) {
	var err error
	if e.failed {
		err = errFailedSinceCheckpoint
	} else {
		err = e.snapshotComponent(id)
	}
	if err == nil && e.backend != nil {
		err = e.backend.FlushForCheckpoint(e.ctx(), id)
	}
	if err != nil {
		err = fmt.Errorf("runtime: %s task %d: checkpoint %d: %w", e.comp.ID, e.task, id, err)
	}
	e.l.coord.acks.push(ckptAck{id: id, task: e.task, err: err})
}

func (e *executor) snapshotComponent(id uint64) (err error) {
	cp, ok := e.component().(topology.Checkpointer)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = e.userPanic("Snapshot", r)
		}
	}()
	snap, err := cp.Snapshot(id)
	if err != nil {
		return err
	}
	b, err := e.stateBackend()
	if err != nil {
		return err
	}
	return state.NewOperatorValue[[]byte](b, snapshotState).Set(snap)
}

// checkpointDone tells the component that checkpoint id completed.
func (e *executor) checkpointDone(id uint64) {
	cp, ok := e.component().(topology.Checkpointer)
	if !ok {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			e.reportError(e.userPanic("CheckpointComplete", r))
		}
	}()
	cp.CheckpointComplete(id)
}

// spoutCheckpoint starts checkpoint id at a spout task: everything emitted so
// far goes out, then the snapshot, then the barrier behind the tuples.
func (e *executor) spoutCheckpoint(id uint64) {
	e.flushAll()
	e.snapshotTask(id)
	for _, dst := range e.downstream {
		if !e.send(dst, msg{kind: msgBarrier, from: e.task, n: int64(id)}) {
			return
		}
	}
}

var errFailedSinceCheckpoint = errors.New("the task failed a tuple, and the topology restarts from the previous checkpoint")
