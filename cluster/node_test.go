package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestThreeNodesAgreeOnMembersAndAssignment(t *testing.T) {
	reg := prometheus.NewRegistry()
	n0 := startNode(t, "n0", func(c *Config) { c.Registerer = reg })
	time.Sleep(5 * time.Millisecond) // n0 is the oldest, so it coordinates
	n1 := startNode(t, "n1", withSeeds(n0.GossipAddr()))
	n2 := startNode(t, "n2", withSeeds(n0.GossipAddr(), n1.GossipAddr()))
	nodes := []*Node{n0, n1, n2}
	want := []string{"n0", "n1", "n2"}

	// A topology submitted on a non-coordinator reaches the coordinator.
	if err := n2.PutTopology(testTopology("words", 6)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := agreed(nodes, want); err != nil {
			return err
		}
		for _, n := range nodes {
			a := n.Assignment()
			if a.Placement.Topology("words") == nil {
				return fmt.Errorf("%s: epoch %d has no placement for words", n.ID(), a.Epoch)
			}
			if len(n.Topologies()) != 1 {
				return fmt.Errorf("%s knows %d topologies", n.ID(), len(n.Topologies()))
			}
		}
		return nil
	})
	a := n1.Assignment()
	if a.Coordinator != "n0" || !n0.IsCoordinator() || n1.IsCoordinator() {
		t.Fatalf("coordinator is %s (n0 coordinating: %v), want n0", a.Coordinator, n0.IsCoordinator())
	}
	// Six workers on three nodes of four slots: two each.
	for id, load := range a.Placement.Load() {
		if load != 2 {
			t.Errorf("node %s runs %d workers, want 2", id, load)
		}
	}
	if got := len(a.WorkersOn("n1")); got != 2 {
		t.Errorf("WorkersOn(n1) = %d workers, want 2", got)
	}

	eventually(t, 5*time.Second, func() error {
		if got := gaugeValue(t, reg, "gale_cluster_members", map[string]string{"state": "alive"}); got != 3 {
			return fmt.Errorf("gale_cluster_members{state=alive} = %v", got)
		}
		if got := gaugeValue(t, reg, "gale_cluster_assignment_epoch", nil); got != float64(n0.Epoch()) {
			return fmt.Errorf("gale_cluster_assignment_epoch = %v, want %d", got, n0.Epoch())
		}
		if got := gaugeValue(t, reg, "gale_cluster_is_coordinator", nil); got != 1 {
			return fmt.Errorf("gale_cluster_is_coordinator = %v", got)
		}
		return nil
	})
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}

	// Killing the topology unassigns it everywhere.
	if err := n1.KillTopology("words"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := agreed(nodes, want); err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Assignment().Placement.Topology("words") != nil || len(n.Topologies()) != 0 {
				return fmt.Errorf("%s still runs words at epoch %d", n.ID(), n.Epoch())
			}
		}
		return nil
	})
	if err := n0.KillTopology("words"); !errors.Is(err, ErrUnknownTopology) {
		t.Fatalf("second kill = %v, want ErrUnknownTopology", err)
	}
}

func TestNodeWithoutTheClusterSecretsCannotJoin(t *testing.T) {
	seed := startNode(t, "seed")
	for _, tc := range []struct {
		name string
		opt  nodeOpt
	}{
		{"no key", func(c *Config) { c.GossipKey = nil; c.Insecure = true }},
		{"other key", func(c *Config) { c.GossipKey = []byte("fedcba9876543210") }},
		{"other label", func(c *Config) { c.ClusterLabel = "other-cluster" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("intruder", withSeeds(seed.GossipAddr()), tc.opt)
			n, err := Start(context.Background(), cfg)
			if err == nil {
				_ = n.Shutdown()
				t.Fatal("joined")
			}
			if !errors.Is(err, ErrJoin) {
				t.Fatalf("Start = %v, want ErrJoin", err)
			}
			t.Log(err)
		})
	}
	// The seed never saw the intruders.
	time.Sleep(300 * time.Millisecond)
	if got := seed.Members(); len(got) != 1 {
		t.Fatalf("seed sees %d members: %v", len(got), got)
	}
}

func TestKeyRotationKeepsTheClusterTogether(t *testing.T) {
	oldKey, newKey := testKey, []byte("new-key-16-bytes")
	n0 := startNode(t, "n0")
	n1 := startNode(t, "n1", withSeeds(n0.GossipAddr()))
	// Install the new key everywhere, then use it, then remove the old one.
	for _, n := range []*Node{n0, n1} {
		if err := n.Keyring().AddKey(newKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*Node{n0, n1} {
		if err := n.Keyring().UseKey(newKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*Node{n0, n1} {
		if err := n.Keyring().RemoveKey(oldKey); err != nil {
			t.Fatal(err)
		}
	}
	// A node with the new key joins; one with the old key cannot.
	n2 := startNode(t, "n2", withSeeds(n1.GossipAddr()), func(c *Config) { c.GossipKey = newKey })
	_, err := Start(context.Background(), testConfig("old", withSeeds(n0.GossipAddr())))
	if !errors.Is(err, ErrJoin) {
		t.Fatalf("node with the removed key: Start = %v, want ErrJoin", err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := agreed([]*Node{n0, n1, n2}, []string{"n0", "n1", "n2"})
		return err
	})
}

func TestDeadAndLeftNodesLoseTheirWorkers(t *testing.T) {
	n0 := startNode(t, "n0")
	time.Sleep(5 * time.Millisecond)
	n1 := startNode(t, "n1", withSeeds(n0.GossipAddr()))
	time.Sleep(5 * time.Millisecond)
	n2 := startNode(t, "n2", withSeeds(n0.GossipAddr()))
	time.Sleep(5 * time.Millisecond)
	n3 := startNode(t, "n3", withSeeds(n0.GossipAddr()))
	if err := n0.PutTopology(testTopology("words", 8)); err != nil {
		t.Fatal(err)
	}
	var before uint64
	eventually(t, 10*time.Second, func() error {
		e, err := agreed([]*Node{n0, n1, n2, n3}, []string{"n0", "n1", "n2", "n3"})
		if err == nil && n0.Assignment().Placement.Topology("words") == nil {
			err = errors.New("words not placed yet")
		}
		before = e
		return err
	})

	// n3 leaves gracefully: the others see it left.
	if err := n3.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n3.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := n3.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := n3.Leave(time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Leave after Shutdown = %v, want ErrClosed", err)
	}
	if err := n3.PutTopology(testTopology("x", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutTopology after Shutdown = %v, want ErrClosed", err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range []*Node{n0, n1, n2} {
			if st := stateOf(n, "n3"); st != MemberLeft {
				return fmt.Errorf("%s sees n3 %v", n.ID(), st)
			}
		}
		_, err := agreed([]*Node{n0, n1, n2}, []string{"n0", "n1", "n2"})
		return err
	})
	afterLeave := n1.Epoch()
	if afterLeave <= before {
		t.Fatalf("epoch %d after leave, was %d", afterLeave, before)
	}

	// n0, the coordinator, dies without a word: n1 takes over and moves
	// n0's workers.
	if err := n0.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		for _, n := range []*Node{n1, n2} {
			if st := stateOf(n, "n0"); st != MemberDead {
				return fmt.Errorf("%s sees n0 %v", n.ID(), st)
			}
		}
		_, err := agreed([]*Node{n1, n2}, []string{"n1", "n2"})
		return err
	})
	a := n2.Assignment()
	if a.Epoch <= afterLeave || a.Coordinator != "n1" {
		t.Fatalf("epoch %d by %s, want > %d by n1", a.Epoch, a.Coordinator, afterLeave)
	}
	load := a.Placement.Load()
	if load["n1"] != 4 || load["n2"] != 4 || len(load) != 2 {
		t.Fatalf("load after failover %v, want 4 on n1 and n2", load)
	}
	// A worker of the old epoch is fenced off.
	if err := CheckEpoch(a.Epoch, before); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("CheckEpoch(%d, %d) = %v, want ErrStaleEpoch", a.Epoch, before, err)
	}
}

func stateOf(n *Node, id string) MemberState {
	for _, m := range n.Members() {
		if m.ID == id {
			return m.State
		}
	}
	return 0
}

func TestChangedFiresOnNewAssignment(t *testing.T) {
	n := startNode(t, "solo")
	ch := n.Changed()
	if err := n.PutTopology(testTopology("t", 2)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed after PutTopology")
	}
	eventually(t, 5*time.Second, func() error {
		ch := n.Changed()
		if a := n.Assignment(); a != nil && a.Placement.Topology("t") != nil {
			return nil
		}
		select {
		case <-ch:
			return errors.New("changed; look again")
		case <-time.After(time.Second):
			return errors.New("no assignment for t")
		}
	})
	if err := n.PutTopology(TopologyInfo{Name: "bad", Workers: 0}); !errors.Is(err, ErrInvalidTopology) {
		t.Fatalf("PutTopology(bad) = %v, want ErrInvalidTopology", err)
	}
}

func TestInsecureClusterWorks(t *testing.T) {
	insecure := func(c *Config) { c.GossipKey = nil; c.Insecure = true }
	a := startNode(t, "a", insecure)
	b := startNode(t, "b", insecure, withSeeds(a.GossipAddr()))
	if a.Keyring() != nil {
		t.Fatal("insecure node has a keyring")
	}
	eventually(t, 10*time.Second, func() error {
		_, err := agreed([]*Node{a, b}, []string{"a", "b"})
		return err
	})
	// A node with a key cannot join the clear-text cluster either.
	_, err := Start(context.Background(), testConfig("keyed", withSeeds(a.GossipAddr())))
	if !errors.Is(err, ErrJoin) {
		t.Fatalf("keyed node joining an insecure cluster: %v, want ErrJoin", err)
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := startNode(t, "m", func(c *Config) { c.Registerer = reg })
	// A second node on the same registry collides, and says so.
	if _, err := Start(context.Background(), testConfig("m2", func(c *Config) { c.Registerer = reg })); err == nil {
		t.Fatal("second node registered the same metrics")
	}
	eventually(t, 5*time.Second, func() error {
		if got := gaugeValue(t, reg, "gale_cluster_assignment_epoch", nil); got != 1 {
			return fmt.Errorf("epoch gauge %v, want 1", got)
		}
		return nil
	})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gale_cluster_members Cluster members this node knows, by gossip state.
# TYPE gale_cluster_members gauge
gale_cluster_members{state="alive"} 1
gale_cluster_members{state="dead"} 0
gale_cluster_members{state="left"} 0
gale_cluster_members{state="suspect"} 0
# HELP gale_cluster_is_coordinator 1 if this node coordinates the cluster, else 0.
# TYPE gale_cluster_is_coordinator gauge
gale_cluster_is_coordinator 1
`), "gale_cluster_members", "gale_cluster_is_coordinator"); err != nil {
		t.Fatal(err)
	}
	// Shutdown unregisters, so a restarted node can register again.
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	again := startNode(t, "m", func(c *Config) { c.Registerer = reg })
	_ = again
}

func TestFencingTokensSurviveUnrelatedChanges(t *testing.T) {
	n0 := startNode(t, "n0")
	time.Sleep(5 * time.Millisecond)
	n1 := startNode(t, "n1", withSeeds(n0.GossipAddr()))
	if err := n0.PutTopology(testTopology("words", 4)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := agreed([]*Node{n0, n1}, []string{"n0", "n1"})
		if err == nil && n1.Assignment().Placement.Topology("words") == nil {
			err = errors.New("words not placed")
		}
		return err
	})
	before := n1.Assignment()
	tokens := make([]uint64, 4)
	for i := range tokens {
		w, _ := before.Worker("words", i)
		tokens[i] = w.Since
	}
	// Another topology arrives: a new epoch, but the words workers stay and
	// their tokens stay valid.
	if err := n1.PutTopology(testTopology("other", 2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if n0.Assignment().Placement.Topology("other") == nil {
			return errors.New("other not placed")
		}
		return nil
	})
	after := n0.Assignment()
	if after.Epoch <= before.Epoch {
		t.Fatalf("epoch %d after a new topology, was %d", after.Epoch, before.Epoch)
	}
	for i, tok := range tokens {
		if err := after.CheckWorker("words", i, tok); err != nil {
			t.Errorf("worker %d with token %d fenced off by an unrelated change: %v", i, tok, err)
		}
	}
	// Rebalancing words renews every token: the old ones are refused.
	if err := n0.PutTopology(testTopology("words", 2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if tp := n1.Assignment().Placement.Topology("words"); tp == nil || len(tp.Workers) != 2 {
			return errors.New("rebalance not assigned")
		}
		return nil
	})
	rebalanced := n1.Assignment()
	for i := range 2 {
		if err := rebalanced.CheckWorker("words", i, tokens[i]); !errors.Is(err, ErrStaleEpoch) {
			t.Errorf("worker %d with pre-rebalance token: %v, want ErrStaleEpoch", i, err)
		}
		w, _ := rebalanced.Worker("words", i)
		if err := rebalanced.CheckWorker("words", i, w.Since); err != nil {
			t.Errorf("worker %d with its new token: %v", i, err)
		}
	}
	if err := rebalanced.CheckWorker("words", 3, tokens[3]); !errors.Is(err, ErrStaleEpoch) {
		t.Errorf("removed worker 3: %v, want ErrStaleEpoch", err)
	}
}

func TestStartGivesUpWhenContextEnds(t *testing.T) {
	// A seed that accepts TCP connections but never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Start(ctx, testConfig("late", withSeeds(ln.Addr().String()), func(c *Config) {
		c.Memberlist = func(mc *memberlist.Config) { LocalGossip(mc); mc.TCPTimeout = 3 * time.Second }
	}))
	if !errors.Is(err, ErrJoin) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want ErrJoin and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Start took %v after its context ended", d)
	}
}

func TestExtraGossipKeysAllowARollingRotation(t *testing.T) {
	oldKey, newKey := testKey, []byte("new-key-16-bytes")
	// Step 1 done on n0: sends with the old key, accepts the new one.
	n0 := startNode(t, "n0", func(c *Config) { c.ExtraGossipKeys = [][]byte{newKey} })
	// Step 2 done on n1: sends with the new key, still accepts the old one.
	n1 := startNode(t, "n1", withSeeds(n0.GossipAddr()), func(c *Config) {
		c.GossipKey, c.ExtraGossipKeys = newKey, [][]byte{oldKey}
	})
	eventually(t, 10*time.Second, func() error {
		_, err := agreed([]*Node{n0, n1}, []string{"n0", "n1"})
		return err
	})
	// A node that skipped step 1 (old key only) cannot read n1.
	_, err := Start(context.Background(), testConfig("stale", withSeeds(n1.GossipAddr())))
	if !errors.Is(err, ErrJoin) {
		t.Fatalf("node with only the old key joining through n1: %v, want ErrJoin", err)
	}
}

func TestJoinsThatComeTogetherCostOneEpoch(t *testing.T) {
	settle := func(c *Config) { c.SettleTime = time.Second }
	first := startNode(t, "n0", settle)
	eventually(t, 5*time.Second, func() error {
		if first.Epoch() != 1 {
			return fmt.Errorf("epoch %d, want 1", first.Epoch())
		}
		return nil
	})
	nodes := []*Node{first}
	want := []string{"n0"}
	for i := 1; i < 5; i++ {
		id := fmt.Sprintf("n%d", i)
		nodes = append(nodes, startNode(t, id, settle, withSeeds(first.GossipAddr())))
		want = append(want, id)
	}
	var epoch uint64
	eventually(t, 15*time.Second, func() error {
		e, err := agreed(nodes, want)
		epoch = e
		return err
	})
	// Four joins within the settle time: one new epoch (two if the machine
	// is so slow that the joins straddle a settle window).
	if epoch > 3 {
		t.Fatalf("epoch %d after four quick joins, want 2 (or 3)", epoch)
	}
	t.Logf("epoch %d after four joins", epoch)
}
