package supervisor

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadAssignment(t *testing.T) {
	dir := t.TempDir()
	good := Assignment{Topology: "t", Worker: 1, Workers: 2, StateDir: dir, Peers: []Peer{{Worker: 0, Tasks: []TaskBlock{{Component: "c", Count: 2, FirstTask: 1}}}}}
	cases := []struct {
		name string
		body string
		ok   bool
	}{
		{"good", mustJSON(t, good), true},
		{"not json", "{", false},
		{"no topology", `{"worker":0,"workers":1,"state_dir":"/x"}`, false},
		{"index out of range", `{"topology":"t","worker":2,"workers":2,"state_dir":"/x"}`, false},
		{"no state dir", `{"topology":"t","worker":0,"workers":1}`, false},
		{"huge task block", `{"topology":"t","worker":0,"workers":1,"state_dir":"/x","tasks":[{"component":"c","count":1000000000}]}`, false},
		{"negative count", `{"topology":"t","worker":0,"workers":1,"state_dir":"/x","peers":[{"worker":0,"tasks":[{"count":-1}]}]}`, false},
		{"peer out of range", `{"topology":"t","worker":0,"workers":1,"state_dir":"/x","peers":[{"worker":5}]}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a.json")
			os.WriteFile(p, []byte(c.body), 0o600)
			a, err := ReadAssignment(p)
			if c.ok && (err != nil || a.Topology != "t") {
				t.Errorf("%v %+v", err, a)
			}
			if !c.ok && !errors.Is(err, ErrBadAssignment) {
				t.Errorf("accepted: %v", err)
			}
		})
	}
	if _, err := ReadAssignment(filepath.Join(dir, "missing")); !errors.Is(err, ErrBadAssignment) {
		t.Errorf("missing file: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzAssignment checks that decoding and validating any file never
// panics, and that what validates survives a round trip.
func FuzzAssignment(f *testing.F) {
	f.Add(`{"topology":"t","worker":0,"workers":1,"state_dir":"/x","tasks":[{"component":"c","first":0,"count":2,"first_task":1}]}`)
	f.Add(`{"topology":"t","worker":1,"workers":2,"state_dir":"/x","peers":[{"worker":0,"data_addr":"h:1","epoch":3}]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		var a Assignment
		if json.Unmarshal([]byte(s), &a) != nil || a.Validate() != nil {
			return
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back Assignment
		if err := json.Unmarshal(b, &back); err != nil || back.Validate() != nil || !sameAssignment(a, back) {
			t.Fatalf("round trip: %v %+v", err, back)
		}
	})
}
