package cluster

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gale-stream/gale/cluster/internal/assign"
)

func TestCheckEpoch(t *testing.T) {
	for _, tc := range []struct {
		have, got uint64
		stale     bool
	}{
		{0, 0, false},
		{5, 5, false},
		{5, 6, false}, // a newer epoch the checker has not seen yet
		{5, 4, true},
		{1, 0, true},
	} {
		err := CheckEpoch(tc.have, tc.got)
		if stale := errors.Is(err, ErrStaleEpoch); stale != tc.stale {
			t.Errorf("CheckEpoch(%d, %d) = %v, want stale=%v", tc.have, tc.got, err, tc.stale)
		}
	}
}

func member(id string, started int64, st MemberState) Member {
	return Member{ID: id, State: st, Meta: NodeMeta{ID: id, Slots: 1, StartedAt: time.Unix(started, 0)}}
}

func TestCoordinatorIsTheOldestAliveMember(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Member
		want    string
	}{
		{"none", nil, ""},
		{"oldest", []Member{member("b", 2, MemberAlive), member("a", 3, MemberAlive), member("c", 1, MemberAlive)}, "c"},
		{"tie by id", []Member{member("b", 1, MemberAlive), member("a", 1, MemberAlive)}, "a"},
		{"dead and left skipped", []Member{member("a", 1, MemberDead), member("b", 2, MemberLeft), member("c", 3, MemberAlive)}, "c"},
		{"suspect still counts", []Member{member("a", 1, MemberSuspect), member("b", 2, MemberAlive)}, "a"},
		{"bad metadata skipped", []Member{{ID: "a", State: MemberAlive}, member("b", 2, MemberAlive)}, "b"},
		{"all dead", []Member{member("a", 1, MemberDead)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Coordinator(tc.members)
			if ok != (tc.want != "") || got.ID != tc.want {
				t.Fatalf("Coordinator = %q, %v; want %q", got.ID, ok, tc.want)
			}
			// Order does not matter.
			rev := make([]Member, len(tc.members))
			for i, m := range tc.members {
				rev[len(rev)-1-i] = m
			}
			if again, _ := Coordinator(rev); again.ID != got.ID {
				t.Fatalf("reversed input gives %q", again.ID)
			}
		})
	}
}

func TestMergeKeepsTheNewest(t *testing.T) {
	s := state{topologies: map[string]*TopologyInfo{}}
	a1 := &Assignment{Epoch: 1, Coordinator: "b"}
	a2 := &Assignment{Epoch: 2, Coordinator: "z"}
	a2tie := &Assignment{Epoch: 2, Coordinator: "a"}
	if ac, _ := s.merge(&wireState{Assignment: a2}); !ac || s.assignment != a2 {
		t.Fatal("first assignment not taken")
	}
	if ac, _ := s.merge(&wireState{Assignment: a1}); ac || s.assignment != a2 {
		t.Fatal("older epoch replaced newer")
	}
	if ac, _ := s.merge(&wireState{Assignment: a2tie}); !ac || s.assignment != a2tie {
		t.Fatal("tie not broken towards the smaller coordinator id")
	}
	if ac, _ := s.merge(&wireState{Assignment: a2}); ac {
		t.Fatal("tie broken both ways")
	}

	v1 := &TopologyInfo{Name: "t", Version: 1, UpdatedBy: "x", Workers: 1}
	v2 := &TopologyInfo{Name: "t", Version: 2, UpdatedBy: "x", Killed: true}
	if _, tc := s.merge(&wireState{Topologies: []*TopologyInfo{v1, nil, {Name: ""}}}); !tc || s.topologies["t"] != v1 {
		t.Fatal("topology not taken")
	}
	d1 := s.digest()
	if _, tc := s.merge(&wireState{Topologies: []*TopologyInfo{v2}}); !tc || !s.topologies["t"].Killed {
		t.Fatal("newer tombstone not taken")
	}
	if _, tc := s.merge(&wireState{Topologies: []*TopologyInfo{v1}}); tc {
		t.Fatal("stale version revived a killed topology")
	}
	if s.digest() == d1 {
		t.Fatal("digest did not change with the topology set")
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	top := testTopology("t", 3)
	p, err := assign.Compute(assign.Input{
		Nodes:      []assign.Node{{ID: "a", Slots: 2}, {ID: "b", Slots: 2}},
		Topologies: []assign.Topology{top.input()},
	})
	if err != nil {
		t.Fatal(err)
	}
	top.Version, top.UpdatedBy = 3, "a"
	full := &wireState{
		Assignment: &Assignment{
			Epoch: 7, Coordinator: "a", Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Nodes: []assign.Node{{ID: "a", Slots: 2}, {ID: "b", Slots: 2}}, Topologies: map[string]uint64{"t": 3}, Placement: p,
		},
		Topologies: []*TopologyInfo{&top},
	}
	for _, tc := range []struct {
		kind byte
		v    any
	}{
		{msgAnnounce, &announce{From: "a", Epoch: 3, Digest: 99}},
		{msgPull, &pull{From: "b"}},
		{msgLeave, &leave{From: "c"}},
		{msgState, full},
	} {
		b, err := encodeMessage(tc.kind, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.v) {
			t.Fatalf("kind %d: got %#v, want %#v", tc.kind, got, tc.v)
		}
	}
}

// FuzzDecodeMessage checks that no gossip message, however broken, panics
// the decoder, and that decoded states merge without panicking.
func FuzzDecodeMessage(f *testing.F) {
	for _, v := range []struct {
		kind byte
		v    any
	}{
		{msgAnnounce, announce{From: "a", Epoch: 1}},
		{msgPull, pull{From: "a"}},
		{msgLeave, leave{From: "a"}},
		{msgState, wireState{Assignment: &Assignment{Epoch: 1}, Topologies: []*TopologyInfo{{Name: "t", Version: 1}}}},
	} {
		b, err := encodeMessage(v.kind, v.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		if ws, ok := v.(*wireState); ok {
			s := state{topologies: map[string]*TopologyInfo{}}
			s.merge(ws)
			_ = s.digest()
			for _, tp := range s.topologies {
				_ = tp.Validate()
			}
		}
	})
}
