package cluster

import (
	"github.com/hashicorp/memberlist"
)

// delegate connects memberlist to a Node. memberlist calls it from its own
// goroutines, some of them while holding memberlist's node lock, so no
// method blocks or calls back into memberlist: they copy what they get,
// update the member table under Node.mu for a moment, and hand everything
// else to the node's run goroutine through a channel.
type delegate struct{ n *Node }

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
)

// NodeMeta returns the node's metadata, encoded once at start.
func (d delegate) NodeMeta(limit int) []byte {
	if len(d.n.meta) > limit {
		return nil // cannot happen: Config.Validate checked the size
	}
	return d.n.meta
}

// NotifyMsg hands a copy of a user message to the run goroutine.
func (d delegate) NotifyMsg(b []byte) { d.n.deliver(b) }

// GetBroadcasts returns queued announcements.
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.bcast.GetBroadcasts(overhead, limit)
}

// LocalState returns the node's whole state for a push-pull.
func (d delegate) LocalState(bool) []byte { return d.n.encodedState() }

// MergeRemoteState hands a copy of a peer's state to the run goroutine.
func (d delegate) MergeRemoteState(b []byte, _ bool) { d.n.deliver(b) }

func (d delegate) NotifyJoin(node *memberlist.Node)   { d.n.observe(node, MemberAlive) }
func (d delegate) NotifyUpdate(node *memberlist.Node) { d.n.observe(node, MemberAlive) }

// NotifyLeave records a member that left or died. memberlist passes the
// same Node for both (its Node.State is not updated), so observe tells them
// apart by the leave message the member broadcast before leaving.
func (d delegate) NotifyLeave(node *memberlist.Node) { d.n.observe(node, MemberDead) }

// broadcast is a queued message; a newer announcement replaces older ones.
type broadcast struct {
	kind byte
	msg  []byte
}

func (b *broadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*broadcast)
	return ok && b.kind == msgAnnounce && o.kind == msgAnnounce
}
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}
