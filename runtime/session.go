package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/runtime/internal/wire"
	"github.com/gale-stream/gale/runtime/transport"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/topology"
)

// Exactly-once across several workers.
//
// The workers of an ExactlyOnce topology placed in several processes
// checkpoint together and restart together, as a Flink job does. Worker 0
// leads. A run of the topology on every worker is a session, numbered by
// the leader (numbers only grow, also across restarts of the leader: they
// start from its clock). The leader starts a session by telling every
// worker to restore the last checkpoint complete on every worker and run;
// each worker's links carry the session in their handshake, so tuples of an
// earlier session never reach a later one. Any failure — a task failing, a
// worker's process restarting, the leader restarting — ends the session
// everywhere, and the leader starts the next one from the last complete
// checkpoint.
//
// Within a session the leader triggers checkpoint n on every worker; each
// worker runs it as in one process (barriers from its spouts, alignment,
// snapshots, its store's checkpoint into its own namespace of the
// checkpoint space) and reports to the leader. When every worker has
// reported, the leader records checkpoint n in the space's "commits"
// namespace — from then on it is the one every worker restores — and tells
// the workers, whose tasks then hear CheckpointComplete (a Kafka spout
// commits its offsets there).
//
// The coordination messages travel on their own links, with session 0,
// through the same server as the data: the leader links to every worker,
// every worker to the leader.

// coordOp is the kind of a coordination message.
type coordOp uint8

const (
	// coordJoin (worker → leader): this worker's process runs no session,
	// because it just started or its session failed.
	coordJoin coordOp = iota + 1
	// coordStart (leader → worker): run session S from checkpoint ID (0:
	// none, start empty).
	coordStart
	// coordStarted (worker → leader): session S runs here; ID is the newest
	// checkpoint in this worker's namespace, so that the leader's next ids
	// are newer.
	coordStarted
	// coordFailed (worker → leader): session S failed here (Err).
	coordFailed
	// coordTrigger (leader → worker): take checkpoint ID.
	coordTrigger
	// coordAck (worker → leader): this worker stored its part of checkpoint
	// ID, or failed to (Err).
	coordAck
	// coordComplete (leader → worker): checkpoint ID is complete everywhere.
	coordComplete
	// coordAbort (leader → worker): checkpoint ID is abandoned.
	coordAbort
)

var coordOpNames = [...]string{"?", "join", "start", "started", "failed", "trigger", "ack", "complete", "abort"}

func (o coordOp) String() string {
	if int(o) < len(coordOpNames) {
		return coordOpNames[o]
	}
	return "op" + strconv.Itoa(int(o))
}

// coordMsg is one coordination message.
type coordMsg struct {
	op      coordOp
	worker  int // the sender
	session uint64
	id      uint64
	err     string
}

// coordStream is the stream name coordination messages travel under, as
// tuples of five values: op, session, id, error, and the sender's worker
// index in SourceTask.
const coordStream = "__coord"

func (m coordMsg) item() wire.Item {
	return wire.Item{Kind: wire.KindTuple, Tuple: wire.Tuple{
		SourceTask: int32(m.worker),
		Stream:     coordStream,
		Values:     []any{int64(m.op), int64(m.session), int64(m.id), m.err},
	}}
}

// decodeCoord reads a coordination message from a received item.
func decodeCoord(vd *wire.ValueDecoder, it *wire.Item) (coordMsg, error) {
	if it.Kind != wire.KindTuple || it.Tuple.Stream != coordStream {
		return coordMsg{}, fmt.Errorf("%v item on the coordination link", it.Kind)
	}
	vals := it.Tuple.Values
	if vals == nil {
		var err error
		if vals, err = vd.Decode(it.Tuple.Raw); err != nil {
			return coordMsg{}, err
		}
	}
	if len(vals) != 4 {
		return coordMsg{}, fmt.Errorf("coordination message of %d values", len(vals))
	}
	var n [3]uint64
	for i := range n {
		switch v := vals[i].(type) {
		case int64:
			n[i] = uint64(v)
		case uint64:
			n[i] = v
		default:
			return coordMsg{}, fmt.Errorf("coordination value %d is %T", i, vals[i])
		}
	}
	errStr, ok := vals[3].(string)
	if !ok {
		return coordMsg{}, fmt.Errorf("coordination error is %T", vals[3])
	}
	if n[0] < uint64(coordJoin) || n[0] > uint64(coordAbort) {
		return coordMsg{}, fmt.Errorf("coordination op %d", n[0])
	}
	return coordMsg{op: coordOp(n[0]), worker: int(it.Tuple.SourceTask), session: n[1], id: n[2], err: errStr}, nil
}

// commitRecord is what the leader stores in the "commits" namespace for
// every checkpoint complete on every worker: where its parts are.
type commitRecord struct {
	ID         uint64   `json:"id"`
	Session    uint64   `json:"session"`
	Namespaces []string `json:"namespaces"`
	Created    string   `json:"created"`
}

// commitsNamespace holds the commit records; namespaceOf(i) holds worker
// i's checkpoints.
const commitsNamespace = "commits"

func namespaceOf(worker int) string { return "worker-" + strconv.Itoa(worker) }

// keepCommits is how many commit records the leader keeps.
const keepCommits = 3

// sessionInfo is what a Local of a session gets through Options.
type sessionInfo struct {
	id uint64
	// restore is the checkpoint to restore (0: none) and sources where
	// its parts are.
	restore uint64
	sources []state.Source
	// report tells the leader about this worker's part of a checkpoint.
	report func(id uint64, err error)
}

// sessions runs this worker's part of an ExactlyOnce topology placed in
// several workers: the server all links arrive at, the coordination links,
// and the Local of the current session.
type sessions struct {
	t      *topology.Topology
	opts   Options
	plan   *WorkerPlan
	log    *slog.Logger
	self   int
	leader bool

	space   state.CheckpointSpace
	own     state.CheckpointStorage
	commits state.CheckpointStorage // the leader's only

	srv   *transport.Server
	topts transport.Options

	in   *ctrlQueue[coordMsg]   // received coordination messages
	out  []*ctrlQueue[coordMsg] // to send, by worker; nil for self
	outC []*transport.Client    // coordination links, by worker
	wg   sync.WaitGroup         // the senders
	stop chan struct{}          // closed: senders exit

	// mu guards what the server's handler reads.
	mu struct {
		sync.Mutex
		session uint64
		local   *Local
		changed chan struct{} // closed and replaced on every change
	}

	// Owned by the run goroutine.
	session uint64
	local   *Local
	// restarts counts the sessions this process ran after its first.
	restarts prometheus.Counter
	// failed is the last session that failed here; this worker does not
	// run it again (the leader starts a new one).
	failed uint64
	lead   leaderState
}

// leaderState is what the leader keeps about the current session.
type leaderState struct {
	restore    uint64 // the checkpoint the session started from
	started    map[int]bool
	next       uint64 // the last checkpoint id used
	inFlight   uint64
	triggered  time.Time
	acked      map[int]bool
	restartAt  time.Time // when a failed session is to be replaced; zero: none pending
	backoff    time.Duration
	sessionAt  time.Time
	lastCommit uint64
	startSent  time.Time // when Start last went to the workers not started yet
}

// runSessions runs t under opts (whose Worker plan has several workers)
// until ctx is cancelled.
func runSessions(ctx context.Context, t *topology.Topology, opts Options) error {
	p := opts.Worker
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &sessions{
		t: t, opts: opts, plan: p, self: p.Index, leader: p.Index == 0,
		log:  logger.With("topology", t.Name(), "worker", p.Index),
		in:   newCtrlQueue[coordMsg](),
		stop: make(chan struct{}),
	}
	s.mu.changed = make(chan struct{})
	s.lead.backoff = 100 * time.Millisecond
	var err error
	if s.restarts, err = newRestartCounter(opts.Registerer, t.Name()); err != nil {
		return fmt.Errorf("runtime: topology %s: register metrics: %w", t.Name(), err)
	}
	if err := validatePlan(t, p); err != nil {
		return err
	}
	if err := s.openSpace(ctx); err != nil {
		return err
	}
	if err := s.listen(); err != nil {
		return err
	}
	s.out = make([]*ctrlQueue[coordMsg], len(p.Workers))
	s.outC = make([]*transport.Client, len(p.Workers))
	for w := range p.Workers {
		if w == s.self || (!s.leader && w != 0) {
			continue
		}
		c, err := transport.NewClient(p.Workers[w], s.topts)
		if err != nil {
			s.close()
			return fmt.Errorf("runtime: topology %s: worker %d: coordination link to worker %d: %w", t.Name(), s.self, w, err)
		}
		s.outC[w] = c
		s.out[w] = newCtrlQueue[coordMsg]()
		s.wg.Go(func() { s.sendLoop(w) })
	}
	defer s.close()
	return s.run(ctx)
}

// openSpace opens the checkpoint space and this worker's namespace.
func (s *sessions) openSpace(ctx context.Context) error {
	s.space = s.opts.Space
	if s.space == nil {
		return fmt.Errorf("runtime: topology %s: exactly-once across %d workers needs a checkpoint space every worker sees (Options.Space)", s.t.Name(), len(s.plan.Workers))
	}
	var err error
	if s.own, err = s.space.Namespace(ctx, namespaceOf(s.self)); err != nil {
		return fmt.Errorf("runtime: topology %s: worker %d: checkpoint namespace: %w", s.t.Name(), s.self, err)
	}
	if s.leader {
		if s.commits, err = s.space.Namespace(ctx, commitsNamespace); err != nil {
			return fmt.Errorf("runtime: topology %s: commits namespace: %w", s.t.Name(), err)
		}
	}
	return nil
}

// listen starts the server every link of this worker arrives at.
func (s *sessions) listen() error {
	p := s.plan
	addr := p.Listen
	if addr == "" {
		addr = p.Workers[p.Index]
	}
	s.topts = transport.Options{
		Topology:   s.t.Name(),
		Worker:     p.Index,
		Epoch:      p.Epoch,
		Token:      p.Token,
		TLS:        p.TLS,
		Handler:    s.handle,
		LazyValues: true, // tuples stay encoded until their task reads them (see remote.handle)
		Logger:     s.log,
		Registerer: s.opts.Registerer,
	}
	srvOpts := s.topts
	srvOpts.Accept = func(h wire.Hello) error {
		if h.Session != 0 && h.Session < s.current() {
			return fmt.Errorf("%w: session %d is over", transport.ErrOtherSession, h.Session)
		}
		o := s.topts
		o.Session = h.Session
		return transport.DefaultAccept(o)(h)
	}
	srv, err := transport.Listen(addr, srvOpts)
	if err != nil {
		return fmt.Errorf("runtime: topology %s: worker %d: %w", s.t.Name(), p.Index, err)
	}
	s.srv = srv
	return nil
}

// current returns the session this worker runs or last ran.
func (s *sessions) current() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.session
}

// setLocal publishes the session and its Local (nil while it starts) to
// the handler.
func (s *sessions) setLocal(session uint64, l *Local) {
	s.mu.Lock()
	s.mu.session, s.mu.local = session, l
	close(s.mu.changed)
	s.mu.changed = make(chan struct{})
	s.mu.Unlock()
}

// handle receives every batch: coordination messages on session-0 links,
// data of a session otherwise.
func (s *sessions) handle(ctx context.Context, from transport.Peer, b *wire.Batch) {
	if from.Session == 0 {
		// The server leaves values encoded (LazyValues): decode them here,
		// with a pooled decoder rather than a new one (and chunk) per batch.
		vd := valueDecoders.Get().(*wire.ValueDecoder)
		defer valueDecoders.Put(vd)
		for i := range b.Items {
			m, err := decodeCoord(vd, &b.Items[i])
			if err != nil {
				s.log.Warn("dropping a malformed coordination message", "peer", from.Addr, "err", err)
				continue
			}
			s.in.push(m)
		}
		return
	}
	if l := s.localOf(ctx, from.Session); l != nil {
		l.remote.handle(ctx, from, b)
	}
}

// localOf returns the Local of session, waiting while this worker has not
// started it yet (holding back the sender's credit), or nil when the
// session is over here or ctx ends.
func (s *sessions) localOf(ctx context.Context, session uint64) *Local {
	for {
		s.mu.Lock()
		cur, l, changed := s.mu.session, s.mu.local, s.mu.changed
		s.mu.Unlock()
		switch {
		case cur > session:
			return nil // from a session that is over
		case cur == session && l != nil:
			return l
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// send queues m for worker w (the leader handles its own at once).
func (s *sessions) send(w int, m coordMsg) {
	m.worker = s.self
	if testDropCoord != nil && testDropCoord(w, m) {
		return
	}
	if w == s.self {
		s.in.push(m)
		return
	}
	s.out[w].push(m)
}

// sendLoop sends the messages queued for worker w until stop.
func (s *sessions) sendLoop(w int) {
	q := s.out[w]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var b wire.Batch
	for {
		select {
		case <-q.signal:
		case <-s.stop:
			return
		}
		ms := q.popAll()
		b.Items = b.Items[:0]
		for _, m := range ms {
			b.Items = append(b.Items, m.item())
		}
		if len(b.Items) == 0 {
			continue
		}
		if testCoordDelay > 0 {
			time.Sleep(testCoordDelay)
		}
		// Send waits while the link reconnects: a worker that is down
		// gets the messages when it is back (what a dropped connection
		// loses, the protocol repeats: joins and starts are resent).
		if err := s.outC[w].Send(ctx, &b); err != nil && ctx.Err() == nil {
			s.log.Warn("send coordination messages", "peer", s.plan.Workers[w], "messages", len(ms), "err", err)
		}
	}
}

// close stops the current Local, the coordination links and the server.
func (s *sessions) close() {
	s.stopLocal()
	close(s.stop)
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, c := range s.outC {
		if c != nil {
			c.Close()
		}
	}
	if s.srv != nil {
		if err := s.srv.Shutdown(ctx); err != nil {
			s.log.Warn("close transport", "err", err)
		}
	}
}

// stopLocal kills the session's Local, if one runs, and waits for it.
func (s *sessions) stopLocal() {
	if s.local == nil {
		return
	}
	s.local.Kill()
	<-s.local.Done()
	s.local = nil
	s.setLocal(s.session, nil)
}

// testCoordDelay delays every coordination message sent over the network,
// so that tests can make data overtake them; testDropCoord, when set, drops
// the messages for which it returns true, as a dropped link would. Unset
// outside tests.
var (
	testCoordDelay time.Duration
	testDropCoord  func(to int, m coordMsg) bool
)

// startResend is how often the leader repeats Start to the workers that
// have not reported the session started.
const startResend = 2 * time.Second

// joinEvery is how often a worker that runs no session asks the leader for
// one.
const joinEvery = time.Second

func (s *sessions) run(ctx context.Context) error {
	if s.leader {
		s.newSession(ctx)
	} else {
		s.send(0, coordMsg{op: coordJoin})
	}
	interval := min(s.t.Config().CheckpointInterval, joinEvery)
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	lastJoin := time.Now()
	for {
		var done <-chan struct{}
		if s.local != nil {
			done = s.local.Done()
		}
		select {
		case <-ctx.Done():
			// Stop at once: a graceful stop would wait for the other
			// workers' spouts to end, and what is in flight is replayed
			// from the last checkpoint anyway. Tasks still clean up.
			s.stopLocal()
			return nil
		case <-s.in.signal:
			for _, m := range s.in.popAll() {
				s.dispatch(ctx, m)
			}
		case <-done:
			err := s.local.Err()
			s.local = nil
			s.failed = s.session
			s.setLocal(s.session, nil)
			if err == nil {
				err = errors.New("the topology stopped")
			}
			s.log.Warn("session failed here; the workers restart from the last complete checkpoint", "session", s.session, "err", err)
			s.send(0, coordMsg{op: coordFailed, session: s.session, err: err.Error()})
		case <-tick.C:
			if s.leader {
				s.leaderTick(ctx)
			} else if s.local == nil && time.Since(lastJoin) >= joinEvery {
				s.send(0, coordMsg{op: coordJoin})
				lastJoin = time.Now()
			}
		}
	}
}

// dispatch handles one coordination message.
func (s *sessions) dispatch(ctx context.Context, m coordMsg) {
	switch m.op {
	case coordStart:
		s.start(ctx, m.session, m.id)
	case coordTrigger, coordComplete, coordAbort:
		if m.session == s.session && s.local != nil {
			s.local.coord.cmds.push(ckptCmd{op: m.op, id: m.id})
		}
	case coordJoin, coordStarted, coordFailed, coordAck:
		if s.leader {
			s.leaderDispatch(ctx, m)
		}
	}
}

// start runs session from checkpoint restore, replacing the session that
// runs here, if it is older.
func (s *sessions) start(ctx context.Context, session, restore uint64) {
	if session < s.session || session == s.failed {
		return
	}
	if session == s.session && s.local != nil {
		s.reportStarted()
		return // a repeated start
	}
	if s.session != 0 {
		s.restarts.Inc()
	}
	s.stopLocal()
	s.session = session
	s.setLocal(session, nil)
	l, err := s.startLocal(ctx, session, restore)
	if err != nil {
		s.failed = session
		s.log.Error("start session", "session", session, "checkpoint", restore, "err", err)
		s.send(0, coordMsg{op: coordFailed, session: session, err: err.Error()})
		return
	}
	s.local = l
	s.setLocal(session, l)
	s.log.Info("session started", "session", session, "checkpoint", restore)
	s.reportStarted()
}

// reportStarted tells the leader the session runs here, with the newest
// checkpoint id of this worker's namespace.
func (s *sessions) reportStarted() {
	var newest uint64
	ids, err := s.own.ListManifests(context.Background())
	if err == nil && len(ids) > 0 {
		newest = ids[len(ids)-1]
	}
	s.send(0, coordMsg{op: coordStarted, session: s.session, id: newest})
}

// startLocal starts this worker's tasks for session, restored from the
// commit record of checkpoint restore.
func (s *sessions) startLocal(ctx context.Context, session, restore uint64) (*Local, error) {
	sources, err := commitSources(ctx, s.space, restore)
	if err != nil {
		return nil, err
	}
	si := &sessionInfo{id: session, restore: restore, sources: sources}
	si.report = func(id uint64, err error) {
		m := coordMsg{op: coordAck, session: session, id: id}
		if err != nil {
			m.err = err.Error()
		}
		s.send(0, m)
	}
	opts := s.opts
	opts.Checkpoints = s.own
	opts.sess = si
	return Start(ctx, s.t, opts)
}

// newSession (leader) starts the next session on every worker, from the
// last complete checkpoint.
func (s *sessions) newSession(ctx context.Context) {
	restore, err := lastCommit(ctx, s.commits)
	if err != nil {
		s.log.Error("read commit records; retrying", "err", err)
		s.scheduleRestart()
		return
	}
	next := max(s.session+1, uint64(time.Now().UnixNano()))
	s.lead = leaderState{
		restore:    restore,
		started:    map[int]bool{},
		acked:      map[int]bool{},
		next:       max(s.lead.next, restore),
		backoff:    s.lead.backoff,
		sessionAt:  time.Now(),
		lastCommit: restore,
	}
	for w := range s.plan.Workers {
		if w != s.self {
			s.send(w, coordMsg{op: coordStart, session: next, id: restore})
		}
	}
	s.lead.startSent = time.Now()
	s.start(ctx, next, restore)
}

// scheduleRestart makes the leader start a new session after a backoff
// that grows while sessions keep failing soon after they start.
func (s *sessions) scheduleRestart() {
	if !s.lead.restartAt.IsZero() {
		return
	}
	if time.Since(s.lead.sessionAt) > 10*time.Second {
		s.lead.backoff = 100 * time.Millisecond
	}
	s.lead.restartAt = time.Now().Add(s.lead.backoff)
	s.lead.backoff = min(2*s.lead.backoff, 30*time.Second)
}

func (s *sessions) leaderDispatch(ctx context.Context, m coordMsg) {
	switch m.op {
	case coordJoin:
		if s.lead.started[m.worker] {
			// The worker's process restarted, or its session failed
			// before its report arrived: everyone restarts.
			s.log.Warn("worker left the session; restarting every worker", "from", m.worker, "session", s.session)
			s.scheduleRestart()
			return
		}
		if s.lead.restartAt.IsZero() {
			s.send(m.worker, coordMsg{op: coordStart, session: s.session, id: s.lead.restore})
		}
	case coordStarted:
		if m.session == s.session {
			s.lead.started[m.worker] = true
			s.lead.next = max(s.lead.next, m.id)
		}
	case coordFailed:
		if m.session == s.session {
			s.log.Warn("session failed; restarting every worker from the last complete checkpoint",
				"session", s.session, "at", m.worker, "err", m.err, "checkpoint", s.lead.lastCommit)
			s.lead.started[m.worker] = false
			s.scheduleRestart()
		}
	case coordAck:
		if m.session != s.session || m.id != s.lead.inFlight {
			return
		}
		if m.err != "" {
			s.log.Warn("checkpoint failed", "checkpoint", m.id, "at", m.worker, "err", m.err)
			s.abortCheckpoint()
			return
		}
		s.lead.acked[m.worker] = true
		if len(s.lead.acked) == len(s.plan.Workers) {
			s.commit(ctx)
		}
	}
}

// leaderTick triggers a checkpoint when the session runs everywhere and
// none is in flight, abandons one that takes too long, and starts a
// pending new session.
func (s *sessions) leaderTick(ctx context.Context) {
	if !s.lead.restartAt.IsZero() {
		if time.Now().After(s.lead.restartAt) {
			s.lead.restartAt = time.Time{}
			s.newSession(ctx)
		}
		return
	}
	interval := s.t.Config().CheckpointInterval
	if s.lead.inFlight != 0 {
		if time.Since(s.lead.triggered) > max(10*interval, time.Minute) {
			s.log.Warn("checkpoint timed out", "checkpoint", s.lead.inFlight)
			s.abortCheckpoint()
		}
		return
	}
	var waiting []int
	for w := range s.plan.Workers {
		if !s.lead.started[w] {
			waiting = append(waiting, w)
		}
	}
	if len(waiting) > 0 {
		// A Start lost with a dropped link would leave that worker in the
		// old session and the others waiting on it: say it again.
		if time.Since(s.lead.startSent) >= startResend {
			s.lead.startSent = time.Now()
			for _, w := range waiting {
				if w != s.self {
					s.send(w, coordMsg{op: coordStart, session: s.session, id: s.lead.restore})
				}
			}
		}
		return
	}
	if time.Since(s.lead.triggered) < interval {
		return
	}
	s.lead.next++
	s.lead.inFlight = s.lead.next
	s.lead.triggered = time.Now()
	clear(s.lead.acked)
	for w := range s.plan.Workers {
		s.send(w, coordMsg{op: coordTrigger, session: s.session, id: s.lead.inFlight})
	}
}

func (s *sessions) abortCheckpoint() {
	id := s.lead.inFlight
	s.lead.inFlight = 0
	for w := range s.plan.Workers {
		s.send(w, coordMsg{op: coordAbort, session: s.session, id: id})
	}
}

// commit records the checkpoint in flight as complete on every worker and
// tells them.
func (s *sessions) commit(ctx context.Context) {
	id := s.lead.inFlight
	var namespaces []string
	for w := range s.plan.Workers {
		namespaces = append(namespaces, namespaceOf(w))
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := writeCommit(wctx, s.commits, commitRecord{ID: id, Session: s.session, Namespaces: namespaces}, s.log)
	cancel()
	if err != nil {
		s.log.Warn("record complete checkpoint", "checkpoint", id, "err", err)
		s.abortCheckpoint()
		return
	}
	s.lead.inFlight = 0
	s.lead.lastCommit = id
	for w := range s.plan.Workers {
		s.send(w, coordMsg{op: coordComplete, session: s.session, id: id})
	}
}

// writeCommit records checkpoint rec.ID as complete on every worker, then
// deletes all but the newest keepCommits records.
func writeCommit(ctx context.Context, commits state.CheckpointStorage, rec commitRecord, log *slog.Logger) error {
	rec.Created = time.Now().UTC().Format(time.RFC3339Nano)
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := commits.PutManifest(ctx, rec.ID, data); err != nil {
		return err
	}
	ids, err := commits.ListManifests(ctx)
	if err != nil {
		return nil // the record is written; pruning waits for the next
	}
	for _, id := range ids[:max(0, len(ids)-keepCommits)] {
		if err := commits.DeleteManifest(ctx, id); err != nil {
			log.Warn("delete old commit record", "checkpoint", id, "err", err)
		}
	}
	return nil
}

// lastCommit returns the newest checkpoint complete on every worker, 0 for
// none.
func lastCommit(ctx context.Context, commits state.CheckpointStorage) (uint64, error) {
	ids, err := commits.ListManifests(ctx)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return ids[len(ids)-1], nil
}

// commitSources returns where the parts of checkpoint id are, from its
// commit record; none for id 0.
func commitSources(ctx context.Context, space state.CheckpointSpace, id uint64) ([]state.Source, error) {
	if id == 0 {
		return nil, nil
	}
	commits, err := space.Namespace(ctx, commitsNamespace)
	if err != nil {
		return nil, err
	}
	data, err := commits.GetManifest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("commit record of checkpoint %d: %w", id, err)
	}
	var rec commitRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.ID != id {
		return nil, fmt.Errorf("commit record of checkpoint %d: %w", id, errors.Join(state.ErrCorrupt, err))
	}
	var out []state.Source
	for _, ns := range rec.Namespaces {
		st, err := space.Namespace(ctx, ns)
		if err != nil {
			return nil, err
		}
		out = append(out, state.Source{Storage: st, ID: id})
	}
	return out, nil
}
