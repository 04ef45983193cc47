package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/runtime/internal/acker"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// Local is a topology running in this process: every task of it, plus the
// acker tasks when the topology tracks tuples. Start one with [Start] and
// stop it with [Local.Stop]; it is safe for concurrent use.
type Local struct {
	topo *topology.Topology
	cfg  topology.Config
	log  *slog.Logger
	m    *metrics

	inboxes   []*inbox // by task id; ackers follow the user tasks
	ackerBase topology.TaskID
	// localAckers are the indexes of the acker tasks in this process; spout
	// tasks start their trees on these.
	localAckers []int
	spouts      []*executor
	bolts       []*executor
	ackers      []*ackerTask

	// userCtx is handed to user code; it is cancelled when the topology is
	// killed.
	userCtx    context.Context
	cancelUser context.CancelFunc

	stopSpouts chan struct{} // closed: spouts stop emitting and drain
	kill       chan struct{} // closed: abandon in-flight work now
	ackersStop chan struct{} // closed: ackers exit
	tasksDone  chan struct{} // closed when every spout and bolt task exited
	done       chan struct{} // closed when every goroutine exited

	stopOnce, killOnce sync.Once
	tasks, ackerWG     sync.WaitGroup

	opts Options
	// State: the worker's store and checkpoint storage (see state.go).
	store          *state.Store
	storage        state.CheckpointStorage
	removeStateDir string
	stateOnce      sync.Once
	stateErr       error
	restoredFrom   uint64
	coord          *coordinator
	coordWG        sync.WaitGroup

	// remote reaches the other workers; nil when every task is local.
	remote *remote
	// taskComponent maps every user task to its component.
	taskComponent map[topology.TaskID]topology.ComponentID

	// origins holds one shared Origin per declared stream.
	origins map[topology.ComponentID]map[topology.StreamID]*topology.Origin

	failOnce sync.Once
	failErr  error // why the topology was killed, if it failed
}

// Start opens every spout and prepares every bolt of t, then starts their
// goroutines and returns. ctx bounds the start only; stop the topology
// with [Local.Stop]. If a spout or bolt fails to start, Start cleans up the
// ones it started and returns an error naming the component and task.
func Start(ctx context.Context, t *topology.Topology, opts Options) (*Local, error) {
	cfg := t.Config()
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("topology", t.Name())
	m, err := newMetrics(opts.Registerer, t.Name())
	if err != nil {
		return nil, fmt.Errorf("runtime: topology %s: register metrics: %w", t.Name(), err)
	}
	l := &Local{
		topo:       t,
		cfg:        cfg,
		log:        logger,
		m:          m,
		stopSpouts: make(chan struct{}),
		kill:       make(chan struct{}),
		ackersStop: make(chan struct{}),
		tasksDone:  make(chan struct{}),
		done:       make(chan struct{}),
		opts:       opts,
	}
	l.userCtx, l.cancelUser = context.WithCancel(context.Background())
	l.origins = map[topology.ComponentID]map[topology.StreamID]*topology.Origin{}
	for _, c := range t.Components() {
		m := map[topology.StreamID]*topology.Origin{}
		for _, s := range c.Outputs {
			m[s.ID] = &topology.Origin{Component: c.ID, Stream: s.ID, Fields: s.Fields}
		}
		l.origins[c.ID] = m
	}

	l.coord = &coordinator{l: l, interval: cfg.CheckpointInterval, acks: newCtrlQueue[ckptAck](), tasks: t.NumTasks()}
	l.coord.mu.lastCompleteTime = time.Now()
	if l.coord.m, err = newCkptMetrics(opts.Registerer, t.Name()); err != nil {
		return nil, fmt.Errorf("runtime: topology %s: register metrics: %w", t.Name(), err)
	}
	if si := opts.sess; si != nil {
		l.coord.cmds = newCtrlQueue[ckptCmd]()
		l.coord.report = si.report
	}
	tracking := cfg.Guarantee == topology.AtLeastOnce
	workers, self := 1, 0
	local := func(topology.TaskID) bool { return true }
	if p := opts.Worker; p != nil {
		if err := validatePlan(t, p); err != nil {
			return nil, err
		}
		if cfg.Guarantee == topology.ExactlyOnce && len(p.Workers) > 1 && opts.sess == nil {
			return nil, fmt.Errorf("runtime: topology %s: an exactly-once topology placed in several workers runs with runtime.Run, which coordinates their checkpoints", t.Name())
		}
		workers, self = len(p.Workers), p.Index
		local = func(task topology.TaskID) bool { return p.Tasks[task] == p.Index }
	}
	numAckers := 0
	if tracking {
		// Every worker runs ackers for its own spouts (acker i runs in worker
		// i mod workers), so a worker's ackers outlive every tree they track.
		numAckers = max(cfg.Ackers, workers)
	}
	l.ackerBase = topology.TaskID(t.NumTasks() + 1)
	l.inboxes = make([]*inbox, t.NumTasks()+1+numAckers)
	l.taskComponent = map[topology.TaskID]topology.ComponentID{}
	queueBatches := max(2, cfg.QueueSize/cfg.BatchSize)
	for _, c := range t.Components() {
		for _, task := range c.Tasks {
			l.taskComponent[task] = c.ID
			if !local(task) {
				continue
			}
			in := &inbox{ctrl: newCtrlQueue[ctrlMsg]()}
			if c.Kind == topology.KindBolt {
				in.data = make(chan msg, queueBatches)
			}
			l.inboxes[task] = in
		}
	}
	for i := range numAckers {
		if i%workers != self {
			continue
		}
		l.localAckers = append(l.localAckers, i)
		task := l.ackerBase + topology.TaskID(i)
		in := &inbox{acks: newCtrlQueue[ackMsg]()}
		l.inboxes[task] = in
		l.ackers = append(l.ackers, &ackerTask{
			l: l, task: task, in: in,
			ledger:  acker.New(ledgerKeep),
			pending: m.ackerPending.WithLabelValues(strconv.Itoa(int(task))),
			out:     make(map[topology.TaskID][]ctrlMsg),
		})
	}

	if cfg.Guarantee == topology.ExactlyOnce {
		if err := l.openState(ctx, opts); err != nil {
			l.closeState()
			return nil, err
		}
		l.coord.next = l.restoredFrom
	}
	if opts.Worker != nil {
		if err := l.startTransport(opts); err != nil {
			l.closeState()
			return nil, err
		}
	}
	seed := rand.Uint64()
	for _, c := range t.Components() {
		for i, task := range c.Tasks {
			if l.inboxes[task] == nil {
				continue // another worker's
			}
			e, err := l.newExecutor(c, i, task, tracking, numAckers, seed)
			if err != nil {
				l.abortStart()
				return nil, err
			}
			err = e.open(ctx)
			if err == nil {
				err = e.restoreSnapshot()
			}
			if err != nil {
				l.addOpened(e)
				l.abortStart()
				return nil, err
			}
			l.addOpened(e)
		}
	}

	for _, a := range l.ackers {
		l.goTask(&l.ackerWG, ackerComponent, a.task, a.run)
	}
	for _, e := range l.bolts {
		l.goTask(&l.tasks, e.comp.ID, e.task, e.runBolt)
	}
	for _, e := range l.spouts {
		l.goTask(&l.tasks, e.comp.ID, e.task, e.runSpout)
	}
	if cfg.Guarantee == topology.ExactlyOnce {
		l.coord.tasks = len(l.spouts) + len(l.bolts)
		l.coordWG.Go(l.coord.run)
	}
	go func() {
		l.tasks.Wait()
		close(l.tasksDone)
		close(l.ackersStop)
		l.ackerWG.Wait()
		// Backends close only once the coordinator is done: a checkpoint it
		// is taking must still see every task's scope open.
		l.coordWG.Wait()
		for _, e := range append(l.spouts, l.bolts...) {
			e.closeBackend()
		}
		l.closeTransport()
		l.cancelUser()
		l.closeState()
		close(l.done)
	}()
	l.log.Info("topology started", "tasks", t.NumTasks(), "ackers", numAckers, "guarantee", cfg.Guarantee.String())
	return l, nil
}

// goTask starts f on a goroutine owned by wg, labelled for pprof.
func (l *Local) goTask(wg *sync.WaitGroup, c topology.ComponentID, task topology.TaskID, f func()) {
	labels := pprof.Labels("topology", l.topo.Name(), "component", string(c), "task", strconv.Itoa(int(task)))
	wg.Go(func() { pprof.Do(context.Background(), labels, func(context.Context) { f() }) })
}

func (l *Local) addOpened(e *executor) {
	if e.spout != nil {
		l.spouts = append(l.spouts, e)
	} else {
		l.bolts = append(l.bolts, e)
	}
}

// abortStart closes the spouts and bolts opened so far.
func (l *Local) abortStart() {
	defer l.closeState()
	defer l.closeTransport()
	defer func() {
		for _, e := range append(l.spouts, l.bolts...) {
			e.closeBackend()
		}
	}()
	for _, e := range l.spouts {
		if err := e.spout.Close(); err != nil {
			e.log.Warn("spout close", "err", err)
		}
	}
	for _, e := range l.bolts {
		if err := e.bolt.Cleanup(); err != nil {
			e.log.Warn("bolt cleanup", "err", err)
		}
	}
	l.cancelUser()
}

func (l *Local) newExecutor(c *topology.Component, index int, task topology.TaskID, tracking bool, numAckers int, seed uint64) (*executor, error) {
	cfg := l.cfg
	e := &executor{
		l:         l,
		comp:      c,
		task:      task,
		in:        l.inboxes[task],
		log:       l.log.With("component", string(c.ID), "task", int(task)),
		tracking:  tracking,
		batchSize: cfg.BatchSize,
		idState:   seed ^ uint64(task)*0x9e3779b97f4a7c15,
		pend:      make([][]*tuple, len(l.inboxes)),
		ackBuf:    make([][]ackMsg, numAckers),
		outs:      make(map[topology.StreamID]*streamOut),
	}
	e.tm = l.m.task(c.ID, task, c.Kind, max(2, cfg.QueueSize/cfg.BatchSize)*cfg.BatchSize)
	e.tc = &topology.Context{
		Topology:    l.topo.Name(),
		Component:   c.ID,
		Task:        task,
		Index:       index,
		Parallelism: c.Parallelism,
		Config:      cfg,
		Logger:      e.log,
		Topo:        l.topo,
		Services:    taskServices{e},
	}
	e.maxEvent, e.sentWM, e.wm = noWatermark, noWatermark, noWatermark
	e.endedFrom = map[topology.TaskID]bool{}
	e.barrierFrom = map[topology.TaskID]bool{}
	e.wmIn = map[topology.TaskID]int64{}
	carries := carriesEventTime(l.topo)
	for _, in := range c.Inputs {
		if carries[in.Source] {
			for _, ut := range l.topo.Tasks(in.Source) {
				e.wmIn[ut] = noWatermark
			}
		}
		if in.Grouping.Kind == topology.GroupFields {
			src, _ := l.topo.Component(in.Source)
			s, _ := src.Output(in.Stream)
			var idx []int
			for _, f := range in.Grouping.Fields {
				idx = append(idx, s.Fields.Index(f))
			}
			if e.keyed == nil {
				e.keyed = map[*topology.Origin][]int{}
			}
			e.keyed[l.origin(in.Source, in.Stream)] = idx
		}
	}
	rng := rand.New(rand.NewPCG(seed, uint64(task)))
	isLocal := l.isLocal
	down := map[topology.TaskID]bool{}
	for _, s := range c.Outputs {
		so := &streamOut{
			id: s.ID, fields: s.Fields, direct: s.Direct, origin: l.origin(c.ID, s.ID),
			emitted:     l.m.emitted.WithLabelValues(string(c.ID), strconv.Itoa(int(task)), string(s.ID)),
			transferred: l.m.transferred.WithLabelValues(string(c.ID), strconv.Itoa(int(task)), string(s.ID)),
		}
		for _, sub := range l.topo.Subscribers(c.ID, s.ID) {
			for _, dt := range sub.Component.Tasks {
				down[dt] = true
			}
			if sub.Grouping.Kind == topology.GroupDirect {
				if so.directTasks == nil {
					so.directTasks = make(map[topology.TaskID]bool)
				}
				for _, dt := range sub.Component.Tasks {
					so.directTasks[dt] = true
				}
				continue
			}
			r, err := newRoute(sub, s, cfg.MaxParallelism, isLocal, rng)
			if err != nil {
				return nil, fmt.Errorf("%w (topology %s, task %d)", err, l.topo.Name(), task)
			}
			so.routes = append(so.routes, r)
		}
		e.outs[s.ID] = so
		if s.ID == topology.DefaultStream {
			e.defOut = so
		}
	}
	for dt := range down {
		e.downstream = append(e.downstream, dt)
	}
	switch c.Kind {
	case topology.KindSpout:
		e.spout = c.NewSpout()
		e.pending = make(map[uint64]pendingRoot)
		e.maxPending = cfg.MaxSpoutPending
		e.timeout = cfg.MessageTimeout
		e.active = true
	case topology.KindBolt:
		e.bolt = c.NewBolt()
		e.executed = make(map[*topology.Origin]prometheus.Counter)
		e.onWM, _ = e.bolt.(topology.WatermarkHandler)
	}
	return e, nil
}

func (e *executor) taskLabel() string { return strconv.Itoa(int(e.task)) }

// open calls the user's Open or Prepare, recovering a panic.
func (e *executor) open(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = e.userPanic("open", r)
		}
		if err != nil {
			err = fmt.Errorf("runtime: topology %s: start %s task %d: %w", e.l.topo.Name(), e.comp.ID, e.task, err)
		}
	}()
	if e.spout != nil {
		return e.spout.Open(ctx, e.tc)
	}
	seen := map[topology.ComponentID]bool{}
	for _, in := range e.comp.Inputs {
		if !seen[in.Source] {
			seen[in.Source] = true
			e.upstream += len(e.l.topo.Tasks(in.Source))
		}
	}
	return e.bolt.Prepare(ctx, e.tc)
}

// Stop stops the topology gracefully: spouts stop emitting, the tuple trees
// in flight complete (or fail, or time out), bolts drain their queues and
// clean up, then the ackers stop. The stop is bounded by ctx and by the
// topology's ShutdownTimeout; when either runs out, the remaining work is
// abandoned, every goroutine still exits, and Stop returns the context's
// error. Stop may be called more than once.
func (l *Local) Stop(ctx context.Context) error {
	l.stopOnce.Do(func() {
		l.log.Info("topology stopping")
		close(l.stopSpouts)
	})
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ShutdownTimeout)
	defer cancel()
	var err error
	select {
	case <-l.tasksDone:
	case <-ctx.Done():
		err = ctx.Err()
		l.Kill()
	}
	<-l.done
	if err != nil {
		l.log.Warn("topology stopped before draining", "err", err)
		return fmt.Errorf("runtime: topology %s: stop: %w", l.topo.Name(), err)
	}
	l.log.Info("topology stopped")
	return nil
}

// Kill stops the topology at once, abandoning tuples in flight. Every task
// still runs its Close or Cleanup. Use [Local.Done] to wait for the end.
func (l *Local) Kill() {
	l.killOnce.Do(func() {
		l.stopOnce.Do(func() { close(l.stopSpouts) })
		close(l.kill)
		l.cancelUser()
	})
}

// Done is closed when every goroutine of the topology has exited.
func (l *Local) Done() <-chan struct{} { return l.done }

// Topology returns the running topology.
func (l *Local) Topology() *topology.Topology { return l.topo }

// failTopology ends an ExactlyOnce topology after a failure: it is killed,
// and [Run] restarts it from the last complete checkpoint. Under the other
// guarantees a failure only fails the tuples involved, so this just reports.
func (e *executor) failTopology(err error) {
	if e.l.cfg.Guarantee != topology.ExactlyOnce {
		e.reportError(err)
		return
	}
	// A task that failed a tuple must not take part in a later checkpoint:
	// the state it would snapshot misses the failed tuple, which the spouts
	// would not replay. Its barriers report the failure instead.
	e.failed = true
	e.l.failOnce.Do(func() {
		e.l.failErr = err
		e.log.Error("topology failed; it restarts from the last complete checkpoint", "err", err)
		e.l.Kill() // only closes channels: safe on a task goroutine
	})
}

// Err returns the failure that killed the topology, or nil. It is set
// before [Local.Done] is closed.
func (l *Local) Err() error {
	select {
	case <-l.done:
		return l.failErr
	default:
		return nil
	}
}

// closeBackend flushes and closes the task's keyed state.
func (e *executor) closeBackend() {
	if e.backend == nil {
		return
	}
	if err := e.backend.Close(); err != nil {
		e.log.Warn("close keyed state", "err", err)
	}
	e.backend = nil
}

// LastCheckpoint returns the id of the last checkpoint that completed in
// this run, or the one it restored, or 0.
func (l *Local) LastCheckpoint() uint64 {
	if id := l.coord.lastComplete(); id != 0 {
		return id
	}
	return l.restoredFrom
}

// origin returns the shared Origin of stream of component c.
func (l *Local) origin(c topology.ComponentID, stream topology.StreamID) *topology.Origin {
	return l.origins[c][stream]
}

// closeTransport flushes and closes the links to the other workers.
func (l *Local) closeTransport() {
	if l.remote == nil {
		return
	}
	close(l.remote.stop)
	l.remote.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.remote.close(ctx); err != nil {
		l.log.Warn("close transport", "err", err)
	}
}
