package cluster

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/gale-stream/gale/cluster/internal/assign"
)

// Placement types, re-exported from the pure assignment package.
type (
	// Placement is where the workers of every topology run, and which tasks
	// and key groups each worker owns.
	Placement = assign.Assignment
	// TopologyPlacement places the workers of one topology.
	TopologyPlacement = assign.TopologyAssignment
	// WorkerPlacement is one worker: its node and its tasks.
	WorkerPlacement = assign.Worker
	// ComponentTasks is the contiguous block of a component's tasks a worker
	// runs, with their key groups.
	ComponentTasks = assign.ComponentTasks
	// Task is one task of a worker (see [ComponentTasks.TaskList]).
	Task = assign.Task
	// Component is a component of a submitted topology, as placement sees it.
	Component = assign.Component
)

// Assignment is the cluster-wide decision of the coordinator: which node
// runs which worker. Every node converges on the one with the highest
// [Assignment.Epoch] (ties, which only a split view can produce, go to the
// smaller coordinator id). An Assignment is immutable once published.
type Assignment struct {
	// Epoch increases with every new assignment. Workers and state writes
	// carry it, and [CheckEpoch] refuses older ones.
	Epoch uint64 `msgpack:"e"`
	// Coordinator is the id of the node that computed it.
	Coordinator string `msgpack:"c"`
	// Created is when the coordinator computed it (its clock).
	Created time.Time `msgpack:"at"`
	// Nodes are the alive nodes, with their slots, it was computed for,
	// sorted by id.
	Nodes []assign.Node `msgpack:"n"`
	// Topologies are the versions of the topologies it was computed for.
	Topologies map[string]uint64 `msgpack:"tv"`
	// Placement is the result.
	Placement *Placement `msgpack:"p"`
}

// newer reports whether a supersedes b.
func (a *Assignment) newer(b *Assignment) bool {
	if b == nil {
		return a != nil
	}
	if a == nil {
		return false
	}
	if a.Epoch != b.Epoch {
		return a.Epoch > b.Epoch
	}
	return a.Coordinator < b.Coordinator
}

// Worker returns where worker w of topology runs, or false.
func (a *Assignment) Worker(topology string, w int) (WorkerPlacement, bool) {
	if a == nil {
		return WorkerPlacement{}, false
	}
	t := a.Placement.Topology(topology)
	if t == nil || w < 0 || w >= len(t.Workers) {
		return WorkerPlacement{}, false
	}
	return t.Workers[w], true
}

// CheckWorker is the fencing check for one worker: it returns an error
// wrapping [ErrStaleEpoch] if worker index of topology, started with (or
// writing under) fencing token epoch, has been moved, changed or removed by
// a, that is, if a places it differently from the placement that epoch
// made. Tokens are [WorkerPlacement.Since]. A nil a (nothing known yet)
// refuses nothing.
func (a *Assignment) CheckWorker(topology string, index int, epoch uint64) error {
	if a == nil {
		return nil
	}
	w, ok := a.Worker(topology, index)
	if !ok {
		return fmt.Errorf("%w: topology %q worker %d is no longer assigned (epoch %d)", ErrStaleEpoch, topology, index, a.Epoch)
	}
	if err := CheckEpoch(w.Since, epoch); err != nil {
		return fmt.Errorf("topology %q worker %d (now on %s): %w", topology, index, w.Node, err)
	}
	return nil
}

// WorkerRef names one worker of one topology.
type WorkerRef struct {
	Topology string
	Index    int
}

// WorkersOn returns the workers node runs, by topology then index.
func (a *Assignment) WorkersOn(node string) []WorkerRef {
	if a == nil || a.Placement == nil {
		return nil
	}
	var out []WorkerRef
	for _, t := range a.Placement.Topologies {
		for i, w := range t.Workers {
			if w.Node == node {
				out = append(out, WorkerRef{Topology: t.Name, Index: i})
			}
		}
	}
	return out
}

// TopologyInfo is a submitted topology as the cluster knows it. The
// submission API fills it from the topology binary's spec; gossip spreads
// it to every node.
type TopologyInfo struct {
	// Name is the topology's unique name.
	Name string `msgpack:"n"`
	// BinarySHA256 is the hash of the topology binary: nodes fetch the
	// binary from a peer and verify it against this.
	BinarySHA256 [32]byte `msgpack:"h"`
	// Workers is the number of worker processes.
	Workers int `msgpack:"w"`
	// MaxParallelism is the number of key groups.
	MaxParallelism int `msgpack:"m"`
	// Components list the components with their parallelism and first task
	// id, as placement needs them.
	Components []Component `msgpack:"c"`
	// Spec is the serialized topology spec (topology.EncodeSpec), opaque here.
	Spec []byte `msgpack:"s,omitempty"`
	// Killed marks a topology that was killed: a tombstone that keeps a stale
	// node from bringing it back.
	Killed bool `msgpack:"k,omitempty"`
	// Version orders the updates of one name: the highest wins, ties going
	// to the smaller UpdatedBy. [Node.PutTopology] sets it.
	Version uint64 `msgpack:"v"`
	// UpdatedBy is the id of the node that made this version.
	UpdatedBy string `msgpack:"u"`
	// Incarnation identifies one submission of the name (random, set at
	// submission, kept by rebalances). Checkpoints are kept under it, so a
	// topology submitted under a killed one's name starts without that
	// one's state, and nodes delete the checkpoints of dead incarnations.
	Incarnation string `msgpack:"i,omitempty"`
}

func (t *TopologyInfo) newer(o *TopologyInfo) bool {
	if t.Version != o.Version {
		return t.Version > o.Version
	}
	return t.UpdatedBy < o.UpdatedBy
}

func (t *TopologyInfo) input() assign.Topology {
	return assign.Topology{
		Name: t.Name, Workers: t.Workers, MaxParallelism: t.MaxParallelism,
		Components: t.Components, Generation: t.Version,
	}
}

// Validate reports what makes t impossible to place, wrapping
// [ErrInvalidTopology].
func (t *TopologyInfo) Validate() error {
	if err := assign.ValidateTopology(t.input()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidTopology, err)
	}
	return nil
}

// state is what nodes gossip: the newest assignment and the topology set.
// It is guarded by Node.mu.
type state struct {
	assignment *Assignment
	topologies map[string]*TopologyInfo
}

// merge folds o into s and reports what changed.
func (s *state) merge(o *wireState) (assignmentChanged, topologiesChanged bool) {
	if o.Assignment != nil && o.Assignment.newer(s.assignment) {
		s.assignment = o.Assignment
		assignmentChanged = true
	}
	for _, t := range o.Topologies {
		if t == nil || t.Name == "" {
			continue
		}
		if cur, ok := s.topologies[t.Name]; !ok || t.newer(cur) {
			s.topologies[t.Name] = t
			topologiesChanged = true
		}
	}
	return
}

// digest summarizes the topology set, so an announcement can say whether a
// peer's set differs without carrying it.
func (s *state) digest() uint64 {
	names := make([]string, 0, len(s.topologies))
	for n := range s.topologies {
		names = append(names, n)
	}
	slices.Sort(names)
	h := xxhash.New()
	var buf [8]byte
	for _, n := range names {
		t := s.topologies[n]
		_, _ = h.WriteString(n)
		binary.BigEndian.PutUint64(buf[:], t.Version)
		_, _ = h.Write(buf[:])
		_, _ = h.WriteString(t.UpdatedBy)
	}
	return h.Sum64()
}

func (s *state) wire() *wireState {
	w := &wireState{Assignment: s.assignment}
	for _, t := range s.topologies {
		w.Topologies = append(w.Topologies, t)
	}
	slices.SortFunc(w.Topologies, func(a, b *TopologyInfo) int { return cmp.Compare(a.Name, b.Name) })
	return w
}

// Gossip messages. The first byte is the kind; a msgpack body follows.
const (
	// msgAnnounce is broadcast over UDP: "I have this epoch and topology
	// digest". A node that has less pulls the state from the sender.
	msgAnnounce byte = 1
	// msgPull asks the receiver to send its state back (reliable, TCP).
	msgPull byte = 2
	// msgState carries a whole state (reliable, TCP, and push-pull).
	msgState byte = 3
	// msgLeave is broadcast by a node that leaves gracefully. memberlist
	// reports a left node exactly like a dead one (its Node.State is not
	// updated), so this is how peers tell the two apart.
	msgLeave byte = 4
)

type announce struct {
	From   string `msgpack:"f"`
	Epoch  uint64 `msgpack:"e"`
	Digest uint64 `msgpack:"d"`
}

type pull struct {
	From string `msgpack:"f"`
}

type leave struct {
	From string `msgpack:"f"`
}

type wireState struct {
	Assignment *Assignment     `msgpack:"a"`
	Topologies []*TopologyInfo `msgpack:"t"`
}

// maxMessage bounds a decoded message: memberlist refuses push-pull states
// above 20 MB too.
const maxMessage = 20 << 20

func encodeMessage(kind byte, v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{kind}, b...), nil
}

// decodeMessage decodes one gossip message into an *announce, *pull,
// *wireState or *leave. It never panics.
func decodeMessage(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadMessage)
	}
	if len(b) > maxMessage {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadMessage, len(b), maxMessage)
	}
	var v any
	switch b[0] {
	case msgAnnounce:
		v = &announce{}
	case msgPull:
		v = &pull{}
	case msgState:
		v = &wireState{}
	case msgLeave:
		v = &leave{}
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrBadMessage, b[0])
	}
	if err := unmarshal(b[1:], v); err != nil {
		return nil, fmt.Errorf("%w: kind %d: %v", ErrBadMessage, b[0], err)
	}
	if ws, ok := v.(*wireState); ok && ws.Assignment != nil {
		ws.Assignment.Created = ws.Assignment.Created.UTC() // msgpack decodes to Local
	}
	return v, nil
}

// unmarshal is msgpack.Unmarshal made panic-free: msgpack v5.4.1 panics
// on some malformed input (a nil where a time.Time is expected: found by
// FuzzDecodeMessage, kept in testdata/fuzz), and a peer's bytes must never
// take a node down.
func unmarshal(b []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack: panic decoding %T: %v", v, r)
		}
	}()
	return msgpack.Unmarshal(b, v)
}

// CheckEpoch is the fencing rule: work or a state write stamped with
// assignment epoch got is refused, with an error wrapping [ErrStaleEpoch],
// when the newest epoch known to the checker, have, is higher.
func CheckEpoch(have, got uint64) error {
	if got < have {
		return fmt.Errorf("%w: got epoch %d, newest is %d", ErrStaleEpoch, got, have)
	}
	return nil
}
