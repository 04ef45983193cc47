package topology_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/topology"
)

// fullTopology uses every grouping, a tick, a direct stream, named streams
// and a non-default config.
func fullTopology(t testing.TB) *topology.Topology {
	t.Helper()
	topo, err := fullBuilder().Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return topo
}

// fullBuilder is the builder of fullTopology.
func fullBuilder() *topology.Builder {
	first := func(_ topology.Values, targets, dst []topology.TaskID) []topology.TaskID {
		return append(dst, targets[0])
	}
	b := topology.NewBuilder("full")
	b.SetConfig(topology.Config{Guarantee: topology.ExactlyOnce, MessageTimeout: 90 * time.Second, Workers: 3, FlushInterval: 250 * time.Microsecond})
	b.SetSpout("clicks", noopSpout(), 2).Output("user", "url").OutputStream("errors", "err")
	b.SetBolt("router", noopBolt(), 2).
		Output("user", "url").
		DirectStream("targeted", "user").
		ShuffleFrom("clicks")
	b.SetBolt("sessions", noopBolt(), 4).Output("user", "n").
		FieldsFrom("router", "user").
		DirectFrom("router", "targeted").
		Tick(5 * time.Second)
	b.SetBolt("skewed", noopBolt(), 3).PartialKeyFrom("router", "url")
	b.SetBolt("audit", noopBolt(), 1).
		AllFrom("sessions").
		Subscribe("clicks", "errors", topology.Global())
	b.SetBolt("local", noopBolt(), 2).LocalOrShuffleFrom("sessions")
	b.SetBolt("custom", noopBolt(), 2).CustomFrom("sessions", "first-task", first)
	return b
}

func TestSpecContent(t *testing.T) {
	s := fullTopology(t).Spec()
	if s.Version != topology.SpecVersion || s.Name != "full" {
		t.Errorf("version %d name %q", s.Version, s.Name)
	}
	if s.Config.Guarantee != topology.ExactlyOnce || s.Config.MessageTimeout != topology.Duration(90*time.Second) ||
		s.Config.Workers != 3 || s.Config.Ackers != 3 || s.Config.QueueSize != topology.DefaultQueueSize {
		t.Errorf("config = %+v", s.Config)
	}
	sess, ok := s.Component("sessions")
	if !ok {
		t.Fatal("no sessions component")
	}
	want := topology.ComponentSpec{
		ID: "sessions", Kind: topology.KindBolt, Parallelism: 4, Tick: topology.Duration(5 * time.Second),
		// Name order: audit(1) clicks(2,3) custom(4,5) local(6,7) router(8,9) sessions(10..13) skewed(14..16).
		Tasks:   []topology.TaskID{10, 11, 12, 13},
		Outputs: []topology.StreamSpec{{ID: "default", Fields: topology.Fields{"user", "n"}}},
		Inputs: []topology.InputSpec{
			{Source: "router", Stream: "default", Grouping: topology.GroupFields, Fields: topology.Fields{"user"}},
			{Source: "router", Stream: "targeted", Grouping: topology.GroupDirect},
		},
	}
	if !reflect.DeepEqual(sess, want) {
		t.Errorf("sessions spec:\n got %+v\nwant %+v", sess, want)
	}
	cust, _ := s.Component("custom")
	if len(cust.Inputs) != 1 || cust.Inputs[0].Custom != "first-task" || cust.Inputs[0].Grouping != topology.GroupCustom {
		t.Errorf("custom inputs = %+v", cust.Inputs)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate of a built topology's spec: %v", err)
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	s := fullTopology(t).Spec()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"message_timeout":"1m30s"`, `"guarantee":"exactly-once"`, `"kind":"bolt"`,
		`"grouping":"partial-key"`, `"tick":"5s"`, `"flush_interval":"250µs"`, `"direct":true`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("JSON lacks %s:\n%s", frag, b)
		}
	}
	var got topology.Spec
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("JSON round trip differs:\n got %+v\nwant %+v", got, s)
	}
}

func TestSpecMsgpackRoundTrip(t *testing.T) {
	for _, topo := range []*topology.Topology{fullTopology(t), mustBuild(t, wordCount())} {
		s := topo.Spec()
		b, err := topology.EncodeSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := topology.DecodeSpec(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("msgpack round trip of %s differs:\n got %+v\nwant %+v", s.Name, got, s)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("decoded spec does not validate: %v", err)
		}
	}
}

func mustBuild(t testing.TB, b *topology.Builder) *topology.Topology {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestSpecDecodeRejectsGarbage(t *testing.T) {
	for _, in := range [][]byte{nil, {0xc1}, []byte("not msgpack at all"), {0x81, 0xa4, 'k', 'i', 'n', 'd'}} {
		if _, err := topology.DecodeSpec(in); err == nil {
			t.Errorf("DecodeSpec(%q) succeeded", in)
		}
	}
	var s topology.Spec
	bad := `{"version":1,"name":"x","components":[{"id":"a","kind":"sprout","parallelism":1,"tasks":[1]}]}`
	if err := json.Unmarshal([]byte(bad), &s); err == nil || !strings.Contains(err.Error(), "sprout") {
		t.Errorf("unknown kind: err = %v", err)
	}
	bad = `{"version":1,"name":"x","config":{"message_timeout":"soon"}}`
	if err := json.Unmarshal([]byte(bad), &s); err == nil {
		t.Errorf("bad duration decoded")
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(s *topology.Spec)
		want      error
		component topology.ComponentID
		stream    topology.StreamID
	}{
		{"version", func(s *topology.Spec) { s.Version = 2 }, topology.ErrInvalidSpec, "", ""},
		{"zero config", func(s *topology.Spec) { s.Config.QueueSize = 0 }, topology.ErrInvalidConfig, "", ""},
		{"negative config", func(s *topology.Spec) { s.Config.MessageTimeout = -1 }, topology.ErrInvalidConfig, "", ""},
		{"no guarantee", func(s *topology.Spec) { s.Config.Guarantee = 0 }, topology.ErrInvalidConfig, "", ""},
		{"empty name", func(s *topology.Spec) { s.Name = "" }, topology.ErrEmptyName, "", ""},
		{"unknown stream", func(s *topology.Spec) { s.Components[1].Inputs[0].Stream = "nope" }, topology.ErrUnknownStream, "split", "nope"},
		{"unknown component", func(s *topology.Spec) { s.Components[2].Inputs[0].Source = "ghost" }, topology.ErrUnknownComponent, "count", "default"},
		{"unknown field", func(s *topology.Spec) { s.Components[2].Inputs[0].Fields = topology.Fields{"wrd"} }, topology.ErrUnknownField, "count", "default"},
		{"grouping without fields", func(s *topology.Spec) { s.Components[2].Inputs[0].Fields = nil }, topology.ErrGroupingFields, "count", "default"},
		{"unknown grouping", func(s *topology.Spec) { s.Components[2].Inputs[0].Grouping = 0 }, topology.ErrGroupingFields, "count", "default"},
		{"direct mismatch", func(s *topology.Spec) { s.Components[2].Inputs[0].Grouping = topology.GroupDirect }, topology.ErrDirectGrouping, "count", "default"},
		{"parallelism", func(s *topology.Spec) { s.Components[0].Parallelism = 0 }, topology.ErrParallelism, "sentences", ""},
		{"parallelism above max", func(s *topology.Spec) { s.Config.MaxParallelism = 2 }, topology.ErrInvalidConfig, "split", ""},
		{"tasks", func(s *topology.Spec) { s.Components[1].Tasks[0] = 99 }, topology.ErrInvalidSpec, "split", ""},
		{"unknown kind", func(s *topology.Spec) { s.Components[1].Kind = 0 }, topology.ErrInvalidSpec, "split", ""},
		{"spout with inputs", func(s *topology.Spec) {
			s.Components[0].Inputs = []topology.InputSpec{{Source: "count", Stream: "default", Grouping: topology.GroupShuffle}}
		}, topology.ErrSpoutInput, "sentences", ""},
		{"cycle", func(s *topology.Spec) {
			s.Components[1].Inputs = append(s.Components[1].Inputs, topology.InputSpec{Source: "count", Stream: "default", Grouping: topology.GroupShuffle})
		}, topology.ErrCycle, "count", ""},
		{"no spouts", func(s *topology.Spec) { s.Components[0].Kind = topology.KindBolt }, topology.ErrNoSpouts, "", ""},
		{"duplicate component", func(s *topology.Spec) { s.Components[2].ID = "split" }, topology.ErrDuplicateName, "split", ""},
		{"reserved stream", func(s *topology.Spec) { s.Components[2].Outputs[0].ID = "__x" }, topology.ErrReservedName, "count", "__x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh spec each time: mutations must not leak between cases.
			s := mustBuild(t, wordCount()).Spec()
			tt.mutate(&s)
			err := s.Validate()
			if !errors.Is(err, tt.want) {
				t.Fatalf("errors.Is(err, %v) = false; err = %v", tt.want, err)
			}
			var ve *topology.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err is %T", err)
			}
			found := false
			for _, p := range ve.Problems {
				if errors.Is(p, tt.want) && p.Component == tt.component && p.Stream == tt.stream {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem %v about component %q stream %q in:\n%v", tt.want, tt.component, tt.stream, err)
			}
		})
	}
}

func FuzzDecodeSpec(f *testing.F) {
	for _, topo := range []*topology.Topology{fullTopology(f), mustBuild(f, wordCount())} {
		b, err := topology.EncodeSpec(topo.Spec())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := topology.DecodeSpec(b)
		if err != nil {
			return
		}
		if s.Validate() != nil { // must not panic on anything that decodes
			return
		}
		// A valid spec survives a second round trip unchanged.
		b2, err := topology.EncodeSpec(s)
		if err != nil {
			t.Fatalf("encode a valid spec: %v", err)
		}
		s2, err := topology.DecodeSpec(b2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", s, s2)
		}
	})
}
