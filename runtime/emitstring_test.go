package runtime

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gale-stream/gale/internal/keygroup"
	"github.com/gale-stream/gale/topology"
)

func TestAppendKeyStringMatchesKeygroup(t *testing.T) {
	for _, s := range []string{"", "a", "hello", string(make([]byte, 126)), string(make([]byte, 127)), string(make([]byte, 128)), string(make([]byte, 70000)), "ünïcødé"} {
		// A destination with room (the short-key fast path) and without.
		for _, dst := range [][]byte{append(make([]byte, 0, 300), 'x'), []byte("x")} {
			if got, want := appendKeyString(dst, s), keygroup.AppendKey([]byte("x"), s); !bytes.Equal(got, want) {
				t.Errorf("appendKeyString(cap %d, %.10q) = %x, keygroup.AppendKey = %x", cap(dst), s, got, want)
			}
		}
	}
}

// TestChooseStringMatchesChoose routes one-field string tuples both ways:
// an unboxed string must reach the task its boxed Values would.
func TestChooseStringMatchesChoose(t *testing.T) {
	for _, g := range []topology.Grouping{topology.ByFields("w"), {Kind: topology.GroupPartialKey, Fields: []string{"w"}}, topology.Shuffle(), topology.All(), topology.Global(), topology.LocalOrShuffle()} {
		t.Run(g.Kind.String(), func(t *testing.T) {
			mk := func() *route {
				c := &topology.Component{ID: "sub", Tasks: []topology.TaskID{3, 5, 7, 9}}
				r, err := newRoute(topology.Subscriber{Component: c, Grouping: g},
					topology.Stream{ID: "default", Fields: topology.Fields{"w"}}, 128, func(topology.TaskID) bool { return true }, rand.New(rand.NewPCG(1, 2)))
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			boxed, unboxed := mk(), mk()
			if !unboxed.takesString() {
				t.Fatal("route does not take strings")
			}
			for i := range 2000 {
				s := fmt.Sprintf("word%d", i%300)
				want, err := boxed.choose(topology.Values{s}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := unboxed.chooseString(s, nil); !slices.Equal(got, want) {
					t.Fatalf("%q: chooseString = %v, choose = %v", s, got, want)
				}
			}
		})
	}
}

// TestEmitStringTuplesReadLikeBoxedOnes has a basic bolt emit words through
// topology.StringEmitter to subscribers of every kind, tracked and not, and
// checks every getter of what they receive.
func TestEmitStringTuplesReadLikeBoxedOnes(t *testing.T) {
	for _, g := range []topology.Guarantee{topology.AtMostOnce, topology.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			const n = 300
			rec := newSpoutRecord()
			var mu sync.Mutex
			got := map[topology.ComponentID][]string{}
			var bad []string
			check := func(comp topology.ComponentID) topology.BoltFactory {
				return func() topology.Bolt {
					return &funcBolt{exec: func(tp topology.Tuple, out topology.Emitter) error {
						mu.Lock()
						defer mu.Unlock()
						w := tp.String("word")
						v, ok := tp.Get("word")
						if _, noField := tp.Get("nope"); tp.StringAt(0) != w || !ok || v != w || tp.Len() != 1 ||
							!slices.Equal(tp.Values(), topology.Values{w}) || tp.Value(0) != w || string(tp.Bytes("word")) != w ||
							string(tp.BytesAt(0)) != w || noField || tp.String("word") != w {
							bad = append(bad, fmt.Sprintf("%s: getters of %q disagree", comp, w))
						}
						func() {
							defer func() {
								if _, ok := recover().(*topology.FieldError); !ok {
									bad = append(bad, fmt.Sprintf("%s: Int64 of a string did not panic with a FieldError", comp))
								}
							}()
							tp.Int64At(0)
						}()
						got[comp] = append(got[comp], w)
						out.Ack(tp)
						return nil
					}}
				}
			}
			b := topology.NewBuilder("emit-string")
			b.SetConfig(topology.Config{Guarantee: g, MessageTimeout: time.Minute})
			b.SetSpout("seq", seqFactory(n, true, rec), 1).Output("n")
			b.SetBolt("words", func() topology.Bolt {
				return topology.Basic(topology.BasicFunc(func(_ context.Context, in topology.Tuple, out topology.BasicEmitter) error {
					se, ok := out.(topology.StringEmitter)
					if !ok {
						return fmt.Errorf("no StringEmitter")
					}
					w := fmt.Sprintf("w%d", in.Int64("n")%50)
					se.EmitString(topology.DefaultStream, w)
					se.EmitString("c", w) // a stream with a custom grouping: boxed
					return nil
				}))
			}, 2).ShuffleFrom("seq").Output("word").OutputStream("c", "word")
			b.SetBolt("fields", check("fields"), 3).FieldsFrom("words", "word")
			b.SetBolt("all", check("all"), 2).AllFrom("words")
			b.SetBolt("custom", check("custom"), 2).Subscribe("words", "c", topology.Custom("len", func(v topology.Values, targets []topology.TaskID, dst []topology.TaskID) []topology.TaskID {
				return append(dst, targets[len(v[0].(string))%len(targets)])
			}))
			startTopology(t, b, Options{})
			eventually(t, 10*time.Second, "every word executed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got["fields"]) == n && len(got["all"]) == 2*n && len(got["custom"]) == n
			})
			if g == topology.AtLeastOnce {
				eventually(t, 10*time.Second, "every tree completed", func() bool { return rec.ackedCount() == n })
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range bad {
				t.Error(s)
			}
		})
	}
}

// TestFieldsGroupingFollowsKeygroup pins the fields grouping to
// keygroup.Of, with a power-of-two number of key groups (a mask) and not.
func TestFieldsGroupingFollowsKeygroup(t *testing.T) {
	for _, maxPar := range []int{1, 7, 100, 128, 1024} {
		c := &topology.Component{ID: "sub", Tasks: []topology.TaskID{3, 5, 7}}
		r, err := newRoute(topology.Subscriber{Component: c, Grouping: topology.ByFields("w")},
			topology.Stream{ID: "default", Fields: topology.Fields{"w"}}, maxPar, func(topology.TaskID) bool { return true }, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			key := keygroup.AppendKey(nil, fmt.Sprintf("k%d", i))
			g := keygroup.Of(key, maxPar)
			if got, want := r.byGroup(key), c.Tasks[keygroup.Task(g, len(c.Tasks), maxPar)]; got != want {
				t.Fatalf("maxPar %d, key %d: task %d, keygroup says %d", maxPar, i, got, want)
			}
		}
	}
}
