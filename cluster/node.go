package cluster

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/gale-stream/gale/cluster/internal/assign"
)

const (
	// inboxSize bounds the gossip messages waiting for the run goroutine.
	inboxSize = 1024
	// outboxSize bounds the reliable sends waiting for the sender goroutine.
	outboxSize = 256
	// deadRetention is how long dead and left members stay listed.
	deadRetention = 5 * time.Minute
	// pullBackoff is how long a node waits before pulling the same announced
	// state again.
	pullBackoff = time.Second
)

// Node is a running cluster member. Its methods are safe for concurrent use.
//
// Lock order: Node.mu is a leaf. No memberlist method is called while it is
// held, because memberlist calls the delegate (which takes Node.mu) while
// holding its own node lock.
type Node struct {
	cfg            Config
	log            *slog.Logger
	ml             *memberlist.Memberlist
	bcast          *memberlist.TransmitLimitedQueue
	metrics        *metrics
	meta           []byte // encoded NodeMeta, immutable
	self           NodeMeta
	gossipAddr     string
	keyring        *memberlist.Keyring // the one memberlist uses, or nil
	gossipInterval time.Duration
	alive          atomic.Int32 // members alive, for the broadcast queue
	isCoord        atomic.Bool  // set by reconcile

	inbox  chan []byte   // messages handed off by the delegate
	outbox chan outbound // reliable sends for the sender goroutine
	kick   chan struct{} // membership changed; capacity 1

	done         chan struct{}
	wg           sync.WaitGroup
	shutdownOnce sync.Once

	mu struct {
		sync.Mutex
		closed    bool
		members   map[string]*Member
		deadSince map[string]time.Time
		// leaving holds the members that announced a graceful leave, so
		// that their death is reported as MemberLeft.
		leaving map[string]time.Time
		// joined is false while Start joins the seeds: a node coordinates
		// only once it has heard from the cluster, or it would publish an
		// assignment of its own that competes with the cluster's.
		joined bool
		// memberChange is when the member table last changed.
		memberChange time.Time
		state        state
		encoded      []byte        // cached msgState of state; nil when stale
		gen          uint64        // counts state changes
		changed      chan struct{} // closed and replaced at every state change
	}

	// Owned by the run goroutine.
	pulled       map[announce]time.Time
	pendingSince time.Time   // when a membership change began to wait for SettleTime
	settleTimer  *time.Timer // fires when membership may have settled
	lastErr      string
	coordinating bool
}

type outbound struct {
	to  string
	msg []byte
}

// Start starts a node: it binds gossip, joins the seeds if any are given,
// and starts the goroutines that keep the member table and the assignment
// current. ctx bounds the join. It returns an error wrapping
// [ErrInvalidConfig] for a bad config and [ErrJoin] when seeds were given and
// none could be joined (in time); Start does not retry, so a caller that
// starts nodes in any order retries with backoff. Stop the node with
// [Node.Leave] and [Node.Shutdown].
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Seeds = slices.Clone(cfg.Seeds)
	n := &Node{
		cfg:    cfg,
		log:    cfg.Logger.With("node", cfg.NodeID),
		inbox:  make(chan []byte, inboxSize),
		outbox: make(chan outbound, outboxSize),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		pulled: make(map[announce]time.Time),
	}
	n.settleTimer = time.NewTimer(time.Hour)
	n.settleTimer.Stop()
	n.mu.members = make(map[string]*Member)
	n.mu.deadSince = make(map[string]time.Time)
	n.mu.leaving = make(map[string]time.Time)
	n.mu.state.topologies = make(map[string]*TopologyInfo)
	n.mu.changed = make(chan struct{})
	n.self = NodeMeta{
		ID: cfg.NodeID, APIAddr: cfg.APIAddr, DataAddr: cfg.DataAddr,
		Slots: cfg.Slots, Version: cfg.Version, StartedAt: time.Now(),
	}
	var err error
	if n.meta, err = EncodeNodeMeta(n.self); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if n.self, err = DecodeNodeMeta(n.meta); err != nil { // what peers will see
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if n.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}

	mlc, err := n.memberlistConfig()
	if err != nil {
		n.metrics.unregister()
		return nil, err
	}
	n.bcast = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return max(1, int(n.alive.Load())) },
		RetransmitMult: mlc.RetransmitMult,
	}
	if n.ml, err = memberlist.Create(mlc); err != nil {
		n.metrics.unregister()
		return nil, fmt.Errorf("cluster: node %s: start gossip on %s: %w", cfg.NodeID, cfg.BindAddr, err)
	}
	local := n.ml.LocalNode()
	n.gossipAddr = net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))

	n.wg.Add(2)
	go n.run()
	go n.send()

	if seeds := n.seeds(); len(seeds) > 0 {
		// memberlist's Join takes no context, and shutting memberlist down
		// does not interrupt a push-pull in flight. When ctx ends first,
		// the join is abandoned: its goroutine ends on its own within
		// memberlist's TCP timeout, and its result is dropped.
		type result struct {
			joined int
			err    error
		}
		done := make(chan result, 1)
		go func() {
			joined, err := n.ml.Join(seeds)
			done <- result{joined, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-ctx.Done():
			_ = n.Shutdown()
			return nil, fmt.Errorf("%w: node %s: seeds %v: %w", ErrJoin, cfg.NodeID, seeds, ctx.Err())
		}
		if r.joined == 0 {
			_ = n.Shutdown()
			return nil, fmt.Errorf("%w: node %s: seeds %v: %v (seeds down, or wrong gossip key or cluster label?)", ErrJoin, cfg.NodeID, seeds, r.err)
		}
		if r.err != nil {
			n.log.Warn("some seeds could not be joined", "seeds", seeds, "err", r.err)
		}
		n.log.Info("joined cluster", "seeds", seeds, "contacted", r.joined)
	}
	n.mu.Lock()
	n.mu.joined = true
	n.mu.Unlock()
	n.poke()
	n.log.Info("node started", "gossip_addr", n.gossipAddr, "slots", cfg.Slots, "encrypted", len(cfg.GossipKey) > 0)
	return n, nil
}

func (n *Node) memberlistConfig() (*memberlist.Config, error) {
	cfg := n.cfg
	mlc := memberlist.DefaultLANConfig()
	if cfg.Memberlist != nil {
		cfg.Memberlist(mlc)
	}
	mlc.Name = cfg.NodeID
	host, port, _ := splitHostPort(cfg.BindAddr) // validated
	if host == "" {
		host = "0.0.0.0"
	}
	mlc.BindAddr, mlc.BindPort = host, port
	mlc.AdvertiseAddr, mlc.AdvertisePort = "", port
	if cfg.AdvertiseAddr != "" {
		mlc.AdvertiseAddr, mlc.AdvertisePort, _ = splitHostPort(cfg.AdvertiseAddr)
	}
	mlc.Label = cfg.ClusterLabel
	mlc.SkipInboundLabelCheck = false
	mlc.SecretKey = nil
	mlc.Keyring = nil
	if len(cfg.GossipKey) > 0 {
		kr, err := memberlist.NewKeyring(cfg.ExtraGossipKeys, cfg.GossipKey)
		if err != nil {
			return nil, fmt.Errorf("%w: gossip keys: %v", ErrInvalidConfig, err)
		}
		mlc.Keyring = kr
		n.keyring = kr
		mlc.GossipVerifyIncoming, mlc.GossipVerifyOutgoing = true, true
	}
	n.gossipInterval = mlc.GossipInterval
	d := delegate{n: n}
	mlc.Delegate = d
	mlc.Events = d
	mlc.Logger = memberlistLogger(cfg.Logger)
	mlc.LogOutput = nil
	return mlc, nil
}

// seeds returns the configured seeds without this node's own address.
func (n *Node) seeds() []string {
	var out []string
	for _, s := range n.cfg.Seeds {
		if s != n.gossipAddr {
			out = append(out, s)
		}
	}
	return out
}

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// GossipAddr returns the host:port other nodes reach this node's gossip at;
// give it to other nodes as a seed.
func (n *Node) GossipAddr() string { return n.gossipAddr }

// Meta returns the metadata this node publishes.
func (n *Node) Meta() NodeMeta { return n.self }

// Keyring returns memberlist's keyring, or nil when gossip is not
// encrypted. Rotating a key online means calling AddKey, then UseKey, then
// RemoveKey on every node in turn (see the package doc).
func (n *Node) Keyring() *memberlist.Keyring {
	return n.keyring
}

// Members returns every member this node knows, itself included, sorted by
// id. Dead and left members stay listed for a few minutes. After Shutdown it
// returns the last view.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Member, 0, len(n.mu.members))
	for _, m := range n.mu.members {
		out = append(out, *m)
	}
	sortMembers(out)
	return out
}

// Assignment returns the newest assignment this node knows, or nil before
// the first one. The result is shared and must not be modified.
func (n *Node) Assignment() *Assignment {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.state.assignment
}

// Epoch returns the epoch of [Node.Assignment], or 0.
func (n *Node) Epoch() uint64 {
	if a := n.Assignment(); a != nil {
		return a.Epoch
	}
	return 0
}

// Changed returns a channel that is closed at the next change of the
// assignment or the topology set. Take the channel before reading the
// state, then wait on it:
//
//	for {
//		ch := n.Changed()
//		apply(n.Assignment())
//		select {
//		case <-ch:
//		case <-ctx.Done():
//			return
//		}
//	}
func (n *Node) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.changed
}

// IsCoordinator reports whether this node coordinated the cluster when it
// last looked (it looks at every membership event and every
// ReconcileInterval).
func (n *Node) IsCoordinator() bool { return n.isCoord.Load() }

// Topologies returns the submitted topologies that are not killed, sorted by
// name. The results share slices with the node and must not be modified.
func (n *Node) Topologies() []TopologyInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []TopologyInfo
	for _, t := range n.mu.state.topologies {
		if !t.Killed {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b TopologyInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Known returns what the node knows of topology name, tombstones of killed
// topologies included.
func (n *Node) Known(name string) (TopologyInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.mu.state.topologies[name]
	if !ok {
		return TopologyInfo{}, false
	}
	return *t, true
}

// PutTopology submits t, or replaces the topology of the same name (for a
// rebalance), and spreads it to the cluster; the coordinator then assigns
// its workers. It sets t.Version and t.UpdatedBy. It returns an error
// wrapping [ErrInvalidTopology] if t cannot be placed, or [ErrClosed].
func (n *Node) PutTopology(t TopologyInfo) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("topology %q: %w", t.Name, err)
	}
	t.Components = slices.Clone(t.Components)
	t.Spec = slices.Clone(t.Spec)
	t.Killed = false
	if err := n.updateTopology(&t); err != nil {
		return err
	}
	n.log.Info("topology submitted", "topology", t.Name, "workers", t.Workers, "version", t.Version)
	return nil
}

// KillTopology removes the named topology from the cluster: the coordinator
// unassigns its workers. It returns an error wrapping [ErrUnknownTopology]
// or [ErrClosed].
func (n *Node) KillTopology(name string) error {
	n.mu.Lock()
	cur, ok := n.mu.state.topologies[name]
	n.mu.Unlock()
	if !ok || cur.Killed {
		return fmt.Errorf("%w: %q", ErrUnknownTopology, name)
	}
	t := TopologyInfo{Name: name, BinarySHA256: cur.BinarySHA256, Killed: true, Incarnation: cur.Incarnation}
	if err := n.updateTopology(&t); err != nil {
		return err
	}
	n.log.Info("topology killed", "topology", name, "version", t.Version)
	return nil
}

func (n *Node) updateTopology(t *TopologyInfo) error {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	t.Version = 1
	if cur, ok := n.mu.state.topologies[t.Name]; ok {
		t.Version = cur.Version + 1
	}
	t.UpdatedBy = n.cfg.NodeID
	n.mu.state.topologies[t.Name] = t
	n.changedLocked()
	n.mu.Unlock()
	n.announce()
	n.poke()
	return nil
}

// Leave announces that this node leaves and waits up to about timeout for
// the message to spread: first a leave notice sent to every alive member
// (so they report it as left, not dead), then memberlist's own leave. The
// coordinator, or its successor if this node coordinated, then moves this
// node's workers. Call Shutdown afterwards. It returns [ErrClosed] after
// Shutdown.
func (n *Node) Leave(timeout time.Duration) error {
	n.mu.Lock()
	closed := n.mu.closed
	n.mu.Unlock()
	if closed {
		return ErrClosed
	}
	start := time.Now()
	if b, err := encodeMessage(msgLeave, leave{From: n.cfg.NodeID}); err == nil {
		n.bcast.QueueBroadcast(&broadcast{kind: msgLeave, msg: b})
		n.tellAlive(b, timeout/2)
	}
	if err := n.ml.Leave(max(timeout-time.Since(start), timeout/2)); err != nil {
		return fmt.Errorf("cluster: node %s: leave: %w", n.cfg.NodeID, err)
	}
	n.log.Info("left cluster")
	return nil
}

// tellAlive sends msg reliably to every other alive member, a few at a
// time, and waits for the sends or until timeout. It is used for the leave
// notice, which must reach everyone before the node goes quiet.
func (n *Node) tellAlive(msg []byte, timeout time.Duration) {
	var to []*memberlist.Node
	for _, m := range n.Members() {
		if m.ID == n.cfg.NodeID || !(m.State == MemberAlive || m.State == MemberSuspect) {
			continue
		}
		if host, port, err := splitHostPort(m.GossipAddr); err == nil {
			to = append(to, &memberlist.Node{Name: m.ID, Addr: net.ParseIP(host), Port: uint16(port)})
		}
	}
	sem := make(chan struct{}, 16)
	sent := make(chan struct{}, len(to))
	started := 0
	for _, node := range to {
		ok := n.spawn(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := n.ml.SendReliable(node, msg); err != nil {
				n.log.Debug("leave notice not delivered", "member", node.Name, "err", err)
			}
			sent <- struct{}{}
		})
		if ok {
			started++
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for range started {
		select {
		case <-sent:
		case <-deadline.C:
			return // the sends finish on their own, bounded by the TCP timeout
		}
	}
}

// spawn runs f on a goroutine that Shutdown waits for, unless the node is
// closed.
func (n *Node) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.closed {
		return false
	}
	n.wg.Go(f)
	return true
}

// Shutdown stops gossip and the node's goroutines without telling the
// cluster (peers will declare the node dead; call [Node.Leave] first for a
// graceful exit). It can be called more than once; afterwards the other
// methods return [ErrClosed] where they return errors.
func (n *Node) Shutdown() error {
	var err error
	n.shutdownOnce.Do(func() {
		n.mu.Lock()
		n.mu.closed = true
		n.mu.Unlock()
		// Stop the transport first, so no delegate call and no send hangs.
		if e := n.ml.Shutdown(); e != nil {
			err = fmt.Errorf("cluster: node %s: shutdown: %w", n.cfg.NodeID, e)
		}
		close(n.done)
		n.wg.Wait()
		n.metrics.unregister()
		n.log.Info("node stopped")
	})
	return err
}

// deliver copies a message from memberlist and hands it to the run
// goroutine without blocking; a full inbox drops it (and counts the drop).
func (n *Node) deliver(b []byte) {
	select {
	case n.inbox <- slices.Clone(b):
	default:
		n.metrics.dropped.Inc()
	}
}

// poke wakes the run goroutine to reconcile.
func (n *Node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// observe records what memberlist says about a node.
func (n *Node) observe(node *memberlist.Node, st MemberState) {
	m := &Member{
		ID:         node.Name,
		GossipAddr: net.JoinHostPort(node.Addr.String(), strconv.Itoa(int(node.Port))),
		State:      st,
	}
	meta, err := DecodeNodeMeta(node.Meta)
	if err == nil && meta.ID != node.Name {
		err = fmt.Errorf("%w: node %q publishes id %q", ErrBadMeta, node.Name, meta.ID)
	}
	if err == nil {
		m.Meta = meta
	}
	n.mu.Lock()
	old := n.mu.members[m.ID]
	if err != nil && old != nil {
		m.Meta = old.Meta // a left or dead node's last words may lack meta
		if st == MemberAlive {
			m.Meta = NodeMeta{}
		}
	}
	if st == MemberAlive {
		delete(n.mu.deadSince, m.ID)
		delete(n.mu.leaving, m.ID)
	} else {
		n.mu.deadSince[m.ID] = time.Now()
		if _, ok := n.mu.leaving[m.ID]; ok {
			m.State = MemberLeft
		}
	}
	if old == nil || old.State != m.State || old.Meta != m.Meta {
		n.mu.memberChange = time.Now()
	}
	n.mu.members[m.ID] = m
	alive := 0
	for _, mm := range n.mu.members {
		if mm.State == MemberAlive || mm.State == MemberSuspect {
			alive++
		}
	}
	n.alive.Store(int32(alive))
	n.mu.Unlock()
	if err != nil && st == MemberAlive {
		n.log.Warn("member has bad metadata; it gets no work", "member", node.Name, "err", err)
	}
	n.poke()
}

// changedLocked wakes the Changed watchers and drops the cached encoding.
func (n *Node) changedLocked() {
	n.mu.encoded = nil
	n.mu.gen++
	close(n.mu.changed)
	n.mu.changed = make(chan struct{})
}

// encodedState returns the node's state as a msgState message. It encodes
// outside the lock (a big state takes milliseconds), and caches the result
// unless the state changed meanwhile.
func (n *Node) encodedState() []byte {
	n.mu.Lock()
	if b := n.mu.encoded; b != nil {
		n.mu.Unlock()
		return b
	}
	w, gen := n.mu.state.wire(), n.mu.gen
	n.mu.Unlock()
	b, err := encodeMessage(msgState, w)
	if err != nil {
		n.log.Error("encode gossip state", "err", err)
		return nil
	}
	n.mu.Lock()
	if n.mu.gen == gen {
		n.mu.encoded = b
	}
	n.mu.Unlock()
	return b
}

// announce queues a broadcast of this node's epoch and topology digest.
func (n *Node) announce() {
	n.mu.Lock()
	a := announce{From: n.cfg.NodeID, Digest: n.mu.state.digest()}
	if n.mu.state.assignment != nil {
		a.Epoch = n.mu.state.assignment.Epoch
	}
	n.mu.Unlock()
	b, err := encodeMessage(msgAnnounce, a)
	if err != nil {
		n.log.Error("encode announcement", "err", err)
		return
	}
	n.bcast.QueueBroadcast(&broadcast{kind: msgAnnounce, msg: b})
}

// run owns the reaction to messages, membership changes and ticks.
func (n *Node) run() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.ReconcileInterval)
	defer tick.Stop()
	defer n.settleTimer.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-n.settleTimer.C:
			n.reconcile()
		case b := <-n.inbox:
			n.handle(b)
		case <-n.kick:
			n.reconcile()
		case <-tick.C:
			n.prune()
			n.reconcile()
			// Announce again: an announcement travels by UDP gossip and
			// may be lost, and a node that missed the one of a new epoch
			// would otherwise wait for the next push/pull (15-30 s).
			n.announce()
		}
	}
}

// send owns the reliable (TCP) sends, which may block up to memberlist's
// TCP timeout, so the run goroutine never waits on a peer.
func (n *Node) send() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case o := <-n.outbox:
			n.mu.Lock()
			m, ok := n.mu.members[o.to]
			var addr string
			if ok {
				addr = m.GossipAddr
			}
			n.mu.Unlock()
			if !ok {
				continue
			}
			host, port, err := splitHostPort(addr)
			if err != nil {
				continue
			}
			to := &memberlist.Node{Name: o.to, Addr: net.ParseIP(host), Port: uint16(port)}
			if err := n.ml.SendReliable(to, o.msg); err != nil {
				n.log.Debug("gossip send failed", "member", o.to, "err", err)
			}
		}
	}
}

func (n *Node) sendTo(to string, msg []byte) {
	select {
	case n.outbox <- outbound{to: to, msg: msg}:
	default:
		n.metrics.dropped.Inc()
	}
}

func (n *Node) handle(b []byte) {
	v, err := decodeMessage(b)
	if err != nil {
		n.log.Warn("bad gossip message", "err", err)
		return
	}
	switch m := v.(type) {
	case *announce:
		if m.From == n.cfg.NodeID {
			return
		}
		n.mu.Lock()
		var epoch uint64
		if a := n.mu.state.assignment; a != nil {
			epoch = a.Epoch
		}
		behind := m.Epoch > epoch                  // the sender knows a newer assignment
		ahead := m.Epoch < epoch                   // this node does
		differs := m.Digest != n.mu.state.digest() // the topology sets differ
		n.mu.Unlock()
		if !behind && !ahead && !differs {
			return
		}
		now := time.Now()
		if t, ok := n.pulled[*m]; ok && now.Sub(t) < pullBackoff {
			return
		}
		if len(n.pulled) > 1024 {
			clear(n.pulled)
		}
		n.pulled[*m] = now
		if behind || differs {
			if req, err := encodeMessage(msgPull, pull{From: n.cfg.NodeID}); err == nil {
				n.sendTo(m.From, req)
			}
		}
		if ahead || differs {
			// Push rather than wait for the sender to hear an announcement.
			n.sendTo(m.From, n.encodedState())
		}
	case *leave:
		if m.From == n.cfg.NodeID {
			return
		}
		n.mu.Lock()
		_, known := n.mu.leaving[m.From]
		n.mu.leaving[m.From] = time.Now()
		if mm, ok := n.mu.members[m.From]; ok && mm.State == MemberDead {
			mm.State = MemberLeft
		}
		n.mu.Unlock()
		if !known {
			// Pass the notice on, as memberlist does with its own messages.
			n.bcast.QueueBroadcast(&broadcast{kind: msgLeave, msg: b})
			n.log.Info("member leaving", "member", m.From)
		}
		n.poke()
	case *pull:
		if m.From != n.cfg.NodeID {
			n.sendTo(m.From, n.encodedState())
		}
	case *wireState:
		n.mu.Lock()
		aChanged, tChanged := n.mu.state.merge(m)
		if aChanged || tChanged {
			n.changedLocked()
		}
		a := n.mu.state.assignment
		n.mu.Unlock()
		if aChanged {
			n.metrics.epoch.Set(float64(a.Epoch))
			n.log.Debug("assignment received", "epoch", a.Epoch, "coordinator", a.Coordinator)
		}
		if aChanged || tChanged {
			n.announce()
			n.reconcile()
		}
	}
}

// prune forgets members dead or left for longer than deadRetention.
func (n *Node) prune() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, since := range n.mu.deadSince {
		if time.Since(since) > deadRetention {
			delete(n.mu.deadSince, id)
			delete(n.mu.members, id)
		}
	}
	for id, since := range n.mu.leaving {
		if time.Since(since) > deadRetention {
			delete(n.mu.leaving, id)
		}
	}
}

// reconcile updates the metrics and, on the coordinator, publishes a new
// assignment when the alive nodes or the topologies changed.
func (n *Node) reconcile() {
	members := n.Members()
	counts := map[MemberState]int{}
	for _, m := range members {
		counts[m.State]++
	}
	for _, s := range []MemberState{MemberAlive, MemberSuspect, MemberDead, MemberLeft} {
		n.metrics.members.WithLabelValues(s.String()).Set(float64(counts[s]))
	}
	c, ok := Coordinator(members)
	n.mu.Lock()
	joined := n.mu.joined
	n.mu.Unlock()
	coordinating := ok && c.ID == n.cfg.NodeID && joined
	n.isCoord.Store(coordinating)
	if coordinating != n.coordinating {
		n.coordinating = coordinating
		if coordinating {
			n.log.Info("coordinating cluster")
		}
	}
	if coordinating {
		n.metrics.isCoordinator.Set(1)
	} else {
		n.metrics.isCoordinator.Set(0)
		return
	}

	var nodes []assign.Node
	for _, m := range members {
		if m.Alive() {
			nodes = append(nodes, assign.Node{ID: m.ID, Slots: m.Meta.Slots})
		}
	}
	n.mu.Lock()
	cur := n.mu.state.assignment
	memberChange := n.mu.memberChange
	var topos []assign.Topology
	versions := make(map[string]uint64)
	var invalid []string
	for _, t := range n.mu.state.topologies {
		if t.Killed {
			continue
		}
		if t.Validate() != nil {
			invalid = append(invalid, t.Name)
			continue
		}
		topos = append(topos, t.input())
		versions[t.Name] = t.Version
	}
	n.mu.Unlock()
	nodesSame := cur != nil && slices.Equal(cur.Nodes, nodes)
	if nodesSame && maps.Equal(cur.Topologies, versions) {
		n.pendingSince = time.Time{}
		return
	}
	if !nodesSame && cur != nil && n.cfg.SettleTime > 0 {
		// Let membership settle; the ticker and later events call again.
		now := time.Now()
		if n.pendingSince.IsZero() {
			n.pendingSince = now
		}
		if now.Sub(memberChange) < n.cfg.SettleTime && now.Sub(n.pendingSince) < 10*n.cfg.SettleTime {
			n.settleTimer.Reset(n.cfg.SettleTime - now.Sub(memberChange))
			return
		}
	}
	n.pendingSince = time.Time{}

	in := assign.Input{Nodes: nodes, Topologies: topos, Epoch: 1}
	if cur != nil {
		in.Previous = cur.Placement
		in.Epoch = cur.Epoch + 1
	}
	p, err := assign.Compute(in)
	if err != nil {
		if msg := err.Error(); msg != n.lastErr {
			n.lastErr = msg
			n.log.Warn("cannot assign workers", "nodes", len(nodes), "topologies", len(topos), "err", err)
		}
		return
	}
	n.lastErr = ""
	if len(invalid) > 0 {
		slices.Sort(invalid)
		n.log.Warn("invalid topologies left unassigned", "topologies", invalid)
	}
	next := &Assignment{
		Epoch:       in.Epoch,
		Coordinator: n.cfg.NodeID,
		Created:     time.Now().UTC(),
		Nodes:       nodes,
		Topologies:  versions,
		Placement:   p,
	}
	n.mu.Lock()
	if cur != n.mu.state.assignment { // a newer one arrived meanwhile; next round
		n.mu.Unlock()
		n.poke()
		return
	}
	n.mu.state.assignment = next
	n.changedLocked()
	n.mu.Unlock()

	moved, common := assign.Moved(in.Previous, p)
	n.metrics.epoch.Set(float64(next.Epoch))
	n.log.Info("assignment published", "epoch", next.Epoch, "nodes", len(nodes), "topologies", len(topos), "workers_moved", moved, "workers_kept", common-moved)
	n.announce()
}
