package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/runtime/transport"
	"github.com/gale-stream/gale/topology"
)

// WorkerPlan places a topology's tasks in several worker processes. Each
// process runs [Start] or [Run] with the same plan and its own Index: it
// runs its own tasks, plus acker tasks for its own spouts, and reaches the
// others over TCP (package runtime/transport): tuples, barriers, watermarks
// and tracking messages in msgpack frames, with credit-based flow control so
// that a slow bolt in one worker slows the spouts in another.
type WorkerPlan struct {
	// Index is this worker's index in Workers.
	Index int
	// Workers are the data addresses (host:port) of every worker, by index.
	// This worker listens on Workers[Index] unless Listen is set.
	Workers []string
	// Listen is the address this worker's transport listens on. Default:
	// Workers[Index].
	Listen string
	// Tasks maps every user task of the topology to the index of the worker
	// that runs it.
	Tasks map[topology.TaskID]int
	// Epoch is the assignment epoch; links from older epochs are refused.
	Epoch uint64
	// Token is a shared secret the workers' handshakes must carry.
	Token string
	// TLS, when set, secures the links (mutual TLS when it requires client
	// certificates).
	TLS *tls.Config
}

// endCheckpoint marks a barrier item that is really the end marker of its
// source task (the wire format has no end item of its own).
const endCheckpoint = math.MaxUint64

// remote is what a worker process needs to reach the other workers.
type remote struct {
	l    *Local
	plan *WorkerPlan
	srv  *transport.Server
	opts transport.Options

	// Links to other workers: one per (worker, receiving component), plus
	// one per worker for tracking traffic. A link's credit is shared by
	// everything it carries, and its receiver hands items over in order, so
	// a full queue of one component holds up what follows it on the link.
	// With one link per receiving component, a blocked link waits only on
	// that component, whose tasks wait only on components downstream: the
	// waits follow the topology's DAG and cannot close a cycle. (A shared
	// link let two split tasks in two workers each wait on the other's
	// queue through the counts behind it.)
	mu      sync.Mutex
	clients map[linkKey]*transport.Client
	// ctrl queues tracking traffic for each other worker. It must not wait
	// for credit on the sending task's goroutine: tracking runs against the
	// data, and a bolt blocked on an ack would stop draining the queue whose
	// fullness withholds the credit — a deadlock across workers. One
	// goroutine per peer sends it instead; the queues are bounded in practice
	// by max pending, as in process.
	ctrl []*ctrlQueue[wire.Item]
	wg   sync.WaitGroup
	stop chan struct{}
}

// validatePlan checks a plan against the topology.
func validatePlan(t *topology.Topology, p *WorkerPlan) error {
	var errs []error
	if p.Index < 0 || p.Index >= len(p.Workers) {
		errs = append(errs, fmt.Errorf("worker index %d is not among the %d workers", p.Index, len(p.Workers)))
	}
	for _, c := range t.Components() {
		for _, task := range c.Tasks {
			w, ok := p.Tasks[task]
			if !ok || w < 0 || w >= len(p.Workers) {
				errs = append(errs, fmt.Errorf("task %d of %s is placed on no worker", task, c.ID))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: topology %s: worker plan: %w", t.Name(), err)
	}
	return nil
}

// isLocal reports whether task runs in this process.
func (l *Local) isLocal(task topology.TaskID) bool {
	return l.inboxes[task] != nil
}

// startTransport listens for the other workers' links.
func (l *Local) startTransport(opts Options) error {
	p := opts.Worker
	addr := p.Listen
	if addr == "" {
		addr = p.Workers[p.Index]
	}
	r := &remote{l: l, plan: p, clients: map[linkKey]*transport.Client{}}
	r.opts = transport.Options{
		Topology:   l.topo.Name(),
		Worker:     p.Index,
		Epoch:      p.Epoch,
		Token:      p.Token,
		TLS:        p.TLS,
		Handler:    r.handle,
		LazyValues: true, // see remote.handle
		Logger:     l.log,
		Registerer: opts.Registerer,
	}
	if si := opts.sess; si != nil {
		// The session's links arrive at the server of the worker's
		// sessions (see session.go), which hands them to r.handle.
		r.opts.Session = si.id
		// That server answers for every session with session 0; it has
		// checked ours.
		sessionless := r.opts
		sessionless.Session = 0
		r.opts.Accept = transport.DefaultAccept(sessionless)
	} else {
		srv, err := transport.Listen(addr, r.opts)
		if err != nil {
			return fmt.Errorf("runtime: topology %s: worker %d: %w", l.topo.Name(), p.Index, err)
		}
		r.srv = srv
	}
	r.stop = make(chan struct{})
	r.ctrl = make([]*ctrlQueue[wire.Item], len(p.Workers))
	for w := range p.Workers {
		if w == p.Index {
			continue
		}
		q := newCtrlQueue[wire.Item]()
		r.ctrl[w] = q
		r.wg.Go(func() { r.sendCtrl(w, q) })
	}
	l.remote = r
	return nil
}

// sendCtrl sends the tracking traffic queued for the worker at addr until
// the topology stops, then what is left.
func (r *remote) sendCtrl(worker int, q *ctrlQueue[wire.Item]) {
	for {
		select {
		case <-q.signal:
		case <-r.stop:
			r.flushCtrl(worker, q)
			return
		}
		r.flushCtrl(worker, q)
	}
}

func (r *remote) flushCtrl(worker int, q *ctrlQueue[wire.Item]) {
	items := q.popAll()
	if len(items) == 0 {
		return
	}
	b := wire.Batch{Items: items}
	c, err := r.client(linkKey{worker: worker, ctrl: true})
	if err == nil {
		err = c.Send(r.l.userCtx, &b)
	}
	if err != nil && r.l.userCtx.Err() == nil {
		r.l.log.Warn("send tracking messages", "peer", r.plan.Workers[worker], "items", len(items), "err", err)
	}
}

// linkKey names a link: to a worker, for one receiving component or for
// tracking traffic.
type linkKey struct {
	worker int
	comp   topology.ComponentID
	ctrl   bool
}

// client returns the link for k, connecting it on first use.
func (r *remote) client(k linkKey) (*transport.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clients[k]; c != nil {
		return c, nil
	}
	if r.clients == nil {
		return nil, transport.ErrClosed
	}
	c, err := transport.NewClient(r.plan.Workers[k.worker], r.opts)
	if err != nil {
		return nil, err
	}
	r.clients[k] = c
	return c, nil
}

// close flushes every link and stops the server.
func (r *remote) close(ctx context.Context) error {
	r.mu.Lock()
	clients := r.clients
	r.clients = nil
	r.mu.Unlock()
	var errs []error
	for _, c := range clients {
		errs = append(errs, c.Shutdown(ctx))
	}
	if r.srv != nil {
		errs = append(errs, r.srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// queueCtrl queues tracking items for the worker running task.
func (r *remote) queueCtrl(task topology.TaskID, items ...wire.Item) {
	r.ctrl[r.workerOf(task)].push(items...)
}

// workerOf returns the worker running task: user tasks as planned, acker i
// in worker i mod workers.
func (r *remote) workerOf(task topology.TaskID) int {
	if task >= r.l.ackerBase {
		return int(task-r.l.ackerBase) % len(r.plan.Workers)
	}
	return r.plan.Tasks[task]
}

// addrOf returns the data address of the worker running task.
func (r *remote) addrOf(task topology.TaskID) string {
	return r.plan.Workers[r.workerOf(task)]
}

// sendRemote sends m to task dst in another worker, blocking while the link
// has no credit (backpressure). It gives up when the topology is killed.
// Tuples are written straight into the frame, in the form they are held:
// values, an unboxed string, or values still encoded as they arrived.
func (e *executor) sendRemote(dst topology.TaskID, m msg) bool {
	r := e.l.remote
	var ctrl wire.Item
	switch m.kind {
	case msgTuples:
		return r.sendWith(e, dst, func(w *wire.BatchWriter) error {
			for _, t := range m.tuples {
				dest, src, stream := int32(dst), int32(t.SourceTaskID), string(t.Origin.Stream)
				edges := wireEdges(t.edges)
				switch t.kind {
				case lazyStr:
					w.StringTuple(dest, src, stream, t.str(), edges)
				case lazyRaw:
					w.RawTuple(dest, src, stream, *t.raw(), edges)
				default:
					if err := w.Tuple(dest, src, stream, t.Vals, edges); err != nil {
						return err
					}
				}
			}
			return nil
		})
	case msgEnd:
		ctrl = wire.Item{Kind: wire.KindBarrier, Barrier: wire.Barrier{Checkpoint: endCheckpoint, SourceTask: int32(m.from), Dest: int32(dst)}}
	case msgBarrier:
		ctrl = wire.Item{Kind: wire.KindBarrier, Barrier: wire.Barrier{Checkpoint: uint64(m.n), SourceTask: int32(m.from), Dest: int32(dst)}}
	case msgWatermark:
		ctrl = wire.Item{Kind: wire.KindWatermark, Watermark: wire.Watermark{Time: m.n, SourceTask: int32(m.from), Dest: int32(dst)}}
	}
	return r.sendWith(e, dst, func(w *wire.BatchWriter) error { return w.Item(&ctrl) })
}

// wireEdges views a tuple's edges as the wire's, which have the same
// layout (checked below).
func wireEdges(es []edge) []wire.Edge {
	if len(es) == 0 {
		return nil
	}
	return unsafe.Slice((*wire.Edge)(unsafe.Pointer(&es[0])), len(es))
}

var (
	_ = [1]struct{}{}[unsafe.Sizeof(edge{})-unsafe.Sizeof(wire.Edge{})]
	_ = [1]struct{}{}[unsafe.Offsetof(edge{}.id)-unsafe.Offsetof(wire.Edge{}.ID)]
	_ = [1]struct{}{}[unsafe.Offsetof(edge{}.root)-unsafe.Offsetof(wire.Edge{}.Root)]
)

// sendWith sends one frame, written by write, to task dst's worker; see
// transport.Client.SendWith.
func (r *remote) sendWith(e *executor, dst topology.TaskID, write func(*wire.BatchWriter) error) bool {
	c, err := r.client(linkKey{worker: r.workerOf(dst), comp: r.l.taskComponent[dst]})
	if err == nil {
		err = c.SendWith(r.l.userCtx, write)
	}
	if err != nil {
		if r.l.userCtx.Err() != nil {
			return false
		}
		if e != nil {
			e.reportError(fmt.Errorf("runtime: send to task %d at %s: %w", dst, r.addrOf(dst), err))
		} else {
			r.l.log.Warn("send to remote task", "dest", int(dst), "err", err)
		}
		return false
	}
	return true
}

// sendAcksRemote sends tracking messages to an acker task in another worker.
func (e *executor) sendAcksRemote(acker topology.TaskID, ms []ackMsg) {
	items := make([]wire.Item, len(ms))
	for i, m := range ms {
		items[i] = wire.Item{Kind: wire.KindAcker, Acker: wire.AckerMsg{Op: uint8(m.op), Root: m.root, Value: m.val, SpoutTask: int32(m.spout), Dest: int32(acker)}}
	}
	e.l.remote.queueCtrl(acker, items...)
}

// sendDonesRemote sends tree outcomes to a spout task in another worker.
func (r *remote) sendDones(spout topology.TaskID, ds []ctrlMsg) {
	items := make([]wire.Item, len(ds))
	for i, d := range ds {
		items[i] = wire.Item{Kind: wire.KindSpoutDone, SpoutDone: wire.SpoutDone{Root: d.root, Ok: d.ok, Dest: int32(spout)}}
	}
	r.queueCtrl(spout, items...)
}

// handle receives a batch from another worker and hands its items to the
// local tasks, in order. It blocks while a task's queue is full, which
// withholds credit from the sending worker.
//
// The transport leaves tuple values encoded (Options.LazyValues): the frame
// was validated, but the values are decoded by the task that receives them,
// on its own goroutine, and only as far as its bolt reads them (see tuple).
// That moves the decoding off the connection's reader, which serves every
// task of the receiving component, onto the tasks, as Flink deserializes a
// record in the task that consumes it. The raw values alias the frame,
// which the transport does not reuse when values are lazy.
func (r *remote) handle(ctx context.Context, from transport.Peer, b *wire.Batch) {
	var in inbound
	var pend []*tuple
	var pendDst topology.TaskID
	flush := func() bool {
		if len(pend) == 0 {
			return true
		}
		ok := r.deliver(ctx, pendDst, msg{kind: msgTuples, from: pend[0].SourceTaskID, tuples: pend})
		pend = nil
		return ok
	}
	for i := range b.Items {
		if b.Items[i].Kind == wire.KindTuple {
			in.left++
		}
	}
	for i := range b.Items {
		it := &b.Items[i]
		dst := topology.TaskID(it.Dest())
		if it.Kind == wire.KindTuple {
			in.left--
		}
		if int(dst) <= 0 || int(dst) >= len(r.l.inboxes) || r.l.inboxes[dst] == nil {
			r.l.log.Warn("dropping an item for a task this worker does not run", "dest", int(dst), "peer", from.Addr)
			continue
		}
		inbox := r.l.inboxes[dst]
		switch it.Kind {
		case wire.KindTuple:
			t, err := r.tuple(&in, &it.Tuple)
			if err != nil {
				r.l.log.Warn("dropping a malformed tuple", "dest", int(dst), "peer", from.Addr, "err", err)
				continue
			}
			if len(pend) > 0 && (pendDst != dst || pend[0].SourceTaskID != t.SourceTaskID) {
				if !flush() {
					return
				}
			}
			if pend == nil {
				pend = make([]*tuple, 0, in.left+1)
			}
			pendDst = dst
			pend = append(pend, t)
		case wire.KindBarrier, wire.KindWatermark:
			if !flush() {
				return
			}
			var m msg
			switch {
			case it.Kind == wire.KindWatermark:
				m = msg{kind: msgWatermark, from: topology.TaskID(it.Watermark.SourceTask), n: it.Watermark.Time}
			case it.Barrier.Checkpoint == endCheckpoint:
				m = msg{kind: msgEnd, from: topology.TaskID(it.Barrier.SourceTask)}
			default:
				m = msg{kind: msgBarrier, from: topology.TaskID(it.Barrier.SourceTask), n: int64(it.Barrier.Checkpoint)}
			}
			if !r.deliver(ctx, dst, m) {
				return
			}
		case wire.KindAcker:
			if inbox.acks == nil {
				continue
			}
			a := it.Acker
			inbox.acks.push(ackMsg{op: ackOp(a.Op), root: a.Root, val: a.Value, spout: topology.TaskID(a.SpoutTask)})
		case wire.KindSpoutDone:
			inbox.ctrl.push(ctrlMsg{kind: ctrlTreeDone, root: it.SpoutDone.Root, ok: it.SpoutDone.Ok})
		}
	}
	flush()
}

// inbound allocates the runtime tuples of one received batch.
type inbound struct {
	// left counts the batch's tuple items not yet handled.
	left int
	// tuples and raws are the slabs the batch's tuples and their encoded
	// values are taken from, in order: two allocations per batch rather
	// than one or two per tuple. The receiving tasks recycle the tuples
	// (see recycle), so a slab lives as long as one of its tuples is in
	// use, here or as an emitted tuple. The tuples of a slab are adjacent
	// in memory, as a local batch's are (see takeTuple).
	tuples []tuple
	raws   []wire.RawValues
	// The origin of the last tuple, which the next one most likely shares.
	src    topology.TaskID
	stream string
	origin *topology.Origin
}

// tuple turns a received wire tuple into a runtime tuple. Values the
// transport left encoded stay so: the tuple points to a copy of wt.Raw
// (which still aliases the frame).
func (r *remote) tuple(in *inbound, wt *wire.Tuple) (*tuple, error) {
	src := topology.TaskID(wt.SourceTask)
	origin := in.origin
	if origin == nil || src != in.src || wt.Stream != in.stream {
		comp, ok := r.l.taskComponent[src]
		if !ok {
			return nil, fmt.Errorf("unknown source task %d", src)
		}
		if origin = r.l.origin(comp, topology.StreamID(wt.Stream)); origin == nil {
			return nil, fmt.Errorf("%s has no stream %q", comp, wt.Stream)
		}
		in.src, in.stream, in.origin = src, wt.Stream, origin
	}
	if len(in.tuples) == 0 {
		in.tuples = make([]tuple, in.left+1)
	}
	t := &in.tuples[0]
	in.tuples = in.tuples[1:]
	// A tuple from another worker has one receiving task here, which
	// recycles it for its own emits once it is done with it.
	t.Origin, t.SourceTaskID, t.Vals, t.own = origin, src, wt.Values, true
	if wt.Values == nil {
		if len(in.raws) == 0 {
			in.raws = make([]wire.RawValues, in.left+1)
		}
		in.raws[0] = wt.Raw
		t.setRaw(&in.raws[0])
		in.raws = in.raws[1:]
	}
	for _, ed := range wt.Edges {
		t.addEdge(ed.Root, ed.ID)
	}
	return t, nil
}

// deliver puts m on the data queue of local task dst, blocking while it is
// full, until ctx ends or the topology is killed.
func (r *remote) deliver(ctx context.Context, dst topology.TaskID, m msg) bool {
	in := r.l.inboxes[dst]
	if in.data == nil {
		return true // a spout task: nothing comes in through the data queue
	}
	n := int64(len(m.tuples))
	in.depth.Add(n)
	select {
	case in.data <- m:
		return true
	case <-ctx.Done():
	case <-r.l.kill:
	}
	in.depth.Add(-n)
	return false
}
