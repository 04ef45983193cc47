package cluster

import (
	"cmp"
	"slices"
)

// MemberState is what gossip says about a member.
type MemberState uint8

const (
	// MemberAlive answers probes.
	MemberAlive MemberState = iota + 1
	// MemberSuspect missed probes and may be declared dead soon.
	// memberlist v0.7 has no race-free way to observe suspicion from outside,
	// so [Node.Members] reports suspects as alive until they are dead.
	MemberSuspect
	// MemberDead was declared dead by failure detection.
	MemberDead
	// MemberLeft left gracefully ([Node.Leave]).
	MemberLeft
)

var memberStateNames = [...]string{MemberAlive: "alive", MemberSuspect: "suspect", MemberDead: "dead", MemberLeft: "left"}

// String returns "alive", "suspect", "dead", "left" or "unknown".
func (s MemberState) String() string {
	if int(s) < len(memberStateNames) && memberStateNames[s] != "" {
		return memberStateNames[s]
	}
	return "unknown"
}

// Member is one node of the cluster as this node sees it.
type Member struct {
	// ID is the node id (its memberlist name).
	ID string
	// GossipAddr is the host:port the member gossips on.
	GossipAddr string
	// State is the member's gossip state.
	State MemberState
	// Meta is the member's published metadata. If it did not decode, Meta.ID
	// is empty and the member is never given work.
	Meta NodeMeta
}

// Alive reports whether m counts as alive for coordination and placement:
// alive or suspect, with valid metadata.
func (m Member) Alive() bool {
	return (m.State == MemberAlive || m.State == MemberSuspect) && m.Meta.ID == m.ID
}

// Coordinator returns the member that coordinates: the alive member (see
// [Member.Alive]) that started first, ties broken by the smaller id. Every
// node that sees the same members picks the same one. It returns false if
// no member is alive.
func Coordinator(members []Member) (Member, bool) {
	var best Member
	found := false
	for _, m := range members {
		if !m.Alive() {
			continue
		}
		if !found || olderThan(m, best) {
			best, found = m, true
		}
	}
	return best, found
}

func olderThan(a, b Member) bool {
	if c := a.Meta.StartedAt.Compare(b.Meta.StartedAt); c != 0 {
		return c < 0
	}
	return a.ID < b.ID
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
}
