// Package cluster is the membership and coordination layer of a gale node:
// gossip membership with node metadata, the choice of a coordinator, and
// the assignment of topology workers to nodes, spread to every node by
// gossip and fenced by epoch. The submission API, the binary store and the
// worker supervisor build on it; package cmd/gale wires it to the runtime
// through small interfaces, and this package does not import the runtime.
//
// # Membership
//
// [Start] runs hashicorp/memberlist (SWIM failure detection, LAN defaults,
// adjustable with [Config.Memberlist]) and joins the [Config.Seeds]; any one
// reachable seed is enough, and a node may list its own address. Every node
// publishes [NodeMeta] — id, API and data addresses, worker slots, version
// and start time — msgpack-encoded within memberlist's 512-byte limit
// ([EncodeNodeMeta], [DecodeNodeMeta]). [Node.Members] lists the members with
// their state: alive, dead (failure detection declared it), or left (it
// called [Node.Leave]). memberlist reports leaving and dying the same way,
// so a leaving node first tells every member with a leave notice.
//
// Gossip is encrypted and authenticated with AES-GCM under
// [Config.GossipKey]; a node without the key, or with another one, cannot
// join, and nothing it sends is accepted. Running without a key requires
// [Config.Insecure]. [Config.ClusterLabel] is put on every packet (as
// authenticated data when encrypted), so two clusters never merge even when
// a seed list points at the wrong one.
//
// # Key rotation
//
// memberlist keeps a keyring: one primary key that encrypts, and any
// number of keys that decrypt. To rotate without a partition:
//
//  1. Install the new key on every node: Keyring().AddKey(new) on running
//     nodes, or restart them one by one with ExtraGossipKeys: [new].
//  2. Once every node has it, make it primary everywhere: UseKey(new), or
//     restart with GossipKey: new, ExtraGossipKeys: [old].
//  3. Once every node sends with it, remove the old key: RemoveKey(old), or
//     restart with GossipKey: new alone.
//
// Between the steps every node can read what every other sends.
//
// # Coordinator
//
// The coordinator is the oldest alive member: the smallest
// NodeMeta.StartedAt, ties broken by the smaller id ([Coordinator]). It is a
// pure function of the member list, so every node that sees the same
// members agrees without an election, and a restarted node (new start time)
// does not take over from one that kept running. A node coordinates only
// after it has joined, so a starting node never competes with the cluster.
//
// # Assignments and epochs
//
// The coordinator computes an [Assignment] whenever the alive nodes (and
// their slots) or the submitted topologies ([Node.PutTopology],
// [Node.KillTopology]) differ from those the current assignment was computed
// for. Placement is sticky, balanced by slots, and moves about 1/N of the
// workers when a node joins or leaves (package cluster/internal/assign
// explains how). Each new assignment takes the next epoch after the newest
// one known. A membership change waits until membership has been quiet for
// [Config.SettleTime], so a rolling start of many nodes makes a few epochs,
// not one per node (50 nodes starting together: 3 epochs in the test).
//
// Nodes gossip two things: the newest assignment and the set of topologies
// (name, binary sha256, workers, components, spec; killed ones stay as
// tombstones, and per-name versions decide which update wins). Spreading is
// layered: a small announcement (epoch and a digest of the topology set) is
// broadcast piggybacked on memberlist's gossip; a node that learns of
// something newer pulls the whole state from the announcer over TCP, merges
// it and announces in turn; and memberlist's periodic push-pull carries the
// whole state too, repairing anything a lost packet missed. Merging keeps
// the highest epoch (ties, which only two coordinators with different views
// can make, go to the smaller coordinator id), so every node converges on
// the same assignment. [Node.Assignment] returns it and [Node.Changed]
// signals changes.
//
// # Fencing
//
// memberlist is not a consensus protocol: for a moment after a failure two
// nodes may believe they run the same worker. Epochs make that harmless.
// Every placed worker carries a fencing token, [WorkerPlacement.Since]: the
// epoch from which it has run on its node with its tasks. A worker is
// started with its token and stamps its checkpoints and state writes with
// it; whoever accepts them (checkpoint storage, a peer worker) checks the
// token against the newest assignment it knows with [Assignment.CheckWorker],
// which refuses, with [ErrStaleEpoch], a worker that has since been moved,
// rescaled or removed — so a stale worker cannot overwrite the state of its
// successor. Tokens do not change for workers an assignment leaves alone, so
// a join elsewhere in the cluster fences nobody. [CheckEpoch] is the plain
// comparison for callers that track a single epoch.
//
// # Concurrency
//
// memberlist calls the node's delegates from its own goroutines, some under
// its locks. The delegates never block: they copy what they receive, update
// the member table under a short lock, and hand messages to the node's run
// goroutine through a bounded channel (dropping, and counting, when it is
// full; push-pull repairs what a drop loses). Reliable sends to peers run on
// a separate goroutine, so a slow peer never stalls the node.
//
// # Metrics
//
// gale_cluster_members{state}, gale_cluster_assignment_epoch,
// gale_cluster_is_coordinator and gale_cluster_gossip_messages_dropped_total
// are registered with [Config.Registerer].
package cluster
