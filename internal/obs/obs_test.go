package obs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/gale-stream/gale/internal/obs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGroups(t *testing.T) {
	n1 := map[string]string{obs.LabelNode: "n1", obs.LabelTopology: "clicks"}
	n2 := map[string]string{obs.LabelNode: "n2", obs.LabelTopology: "clicks"}
	tests := []struct {
		name    string
		targets []obs.Target
		want    []obs.Group
	}{
		{"none", nil, []obs.Group{}},
		{"no address is left out", []obs.Target{{Labels: n1}}, []obs.Group{}},
		{"one", []obs.Target{{Addr: "h:1", Labels: n1}}, []obs.Group{{Targets: []string{"h:1"}, Labels: n1}}},
		{"equal labels share an entry, sorted, deduplicated",
			[]obs.Target{{Addr: "h:2", Labels: n1}, {Addr: "h:1", Labels: map[string]string{obs.LabelTopology: "clicks", obs.LabelNode: "n1"}}, {Addr: "h:2", Labels: n1}},
			[]obs.Group{{Targets: []string{"h:1", "h:2"}, Labels: n1}}},
		{"different labels, entries sorted by first target",
			[]obs.Target{{Addr: "h:9", Labels: n1}, {Addr: "h:3", Labels: n2}},
			[]obs.Group{{Targets: []string{"h:3"}, Labels: n2}, {Targets: []string{"h:9"}, Labels: n1}}},
		{"no labels", []obs.Target{{Addr: "h:1"}}, []obs.Group{{Targets: []string{"h:1"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := obs.Groups(tc.targets)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Groups = %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestSDFormat checks the document against Prometheus' http_sd format: a
// JSON array (never null) of objects with "targets" (strings) and "labels"
// (string to string), served as application/json.
func TestSDFormat(t *testing.T) {
	tests := []struct {
		name    string
		list    func() []obs.Target
		want    string
		targets int
	}{
		{"nil callback", nil, "[]\n", 0},
		{"empty", func() []obs.Target { return nil }, "[]\n", 0},
		{"workers", func() []obs.Target {
			return []obs.Target{
				{Addr: "10.0.0.7:9464", Labels: map[string]string{obs.LabelNode: "node-1", obs.LabelTopology: "clicks", obs.LabelWorker: "0"}},
				{Addr: "10.0.0.8:9464", Labels: map[string]string{obs.LabelNode: "node-2", obs.LabelTopology: "clicks", obs.LabelWorker: "1"}},
			}
		}, `[{"targets":["10.0.0.7:9464"],"labels":{"__meta_gale_node":"node-1","__meta_gale_topology":"clicks","__meta_gale_worker":"0"}},` +
			`{"targets":["10.0.0.8:9464"],"labels":{"__meta_gale_node":"node-2","__meta_gale_topology":"clicks","__meta_gale_worker":"1"}}]` + "\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			obs.NewHandler(prometheus.NewRegistry(), tc.list).ServeHTTP(rec, httptest.NewRequest("GET", obs.SDPath, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if rec.Body.String() != tc.want {
				t.Fatalf("body\n%s\nwant\n%s", rec.Body.String(), tc.want)
			}
			// Decoded generically, as Prometheus' http_sd does.
			var doc []struct {
				Targets []string          `json:"targets"`
				Labels  map[string]string `json:"labels"`
			}
			dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil || doc == nil {
				t.Fatalf("decode %q: %v (nil: %v)", rec.Body.String(), err, doc == nil)
			}
			n := 0
			for _, g := range doc {
				n += len(g.Targets)
				for k := range g.Labels {
					if !strings.HasPrefix(k, "__meta_gale_") {
						t.Errorf("label %q is not a __meta_gale_ label", k)
					}
				}
			}
			if n != tc.targets {
				t.Fatalf("%d targets, want %d", n, tc.targets)
			}
		})
	}
}

func TestTargetConstructors(t *testing.T) {
	got := obs.Groups([]obs.Target{
		obs.WorkerTarget("10.0.0.8:9500", "node-2", "clicks", 1),
		obs.NodeTarget("10.0.0.7:9464", "node-1"),
		obs.WorkerTarget("10.0.0.7:9500", "node-1", "clicks", 0),
	})
	want := []obs.Group{
		{Targets: []string{"10.0.0.7:9464"}, Labels: map[string]string{obs.LabelNode: "node-1", obs.LabelRole: "node"}},
		{Targets: []string{"10.0.0.7:9500"}, Labels: map[string]string{obs.LabelNode: "node-1", obs.LabelRole: "worker", obs.LabelTopology: "clicks", obs.LabelWorker: "0"}},
		{Targets: []string{"10.0.0.8:9500"}, Labels: map[string]string{obs.LabelNode: "node-2", obs.LabelRole: "worker", obs.LabelTopology: "clicks", obs.LabelWorker: "1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Groups = %#v\nwant %#v", got, want)
	}
}

func TestSDMethod(t *testing.T) {
	rec := httptest.NewRecorder()
	obs.SDHandler(nil).ServeHTTP(rec, httptest.NewRequest("POST", obs.SDPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d, want 405", rec.Code)
	}
}

func TestListenSelf(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "gale_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	s, err := obs.ListenSelf("127.0.0.1:0", reg, "node-1", "wordcount", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil { // a second stop is harmless
			t.Error(err)
		}
	}()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(s.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	code, body := get(obs.MetricsPath)
	if code != 200 || !strings.Contains(body, "gale_test_things_total 3") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	code, body = get(obs.SDPath)
	var doc []obs.Group
	if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil {
		t.Fatalf("sd: %d %v\n%s", code, err, body)
	}
	want := []obs.Group{{Targets: []string{s.Addr()}, Labels: map[string]string{
		obs.LabelNode: "node-1", obs.LabelTopology: "wordcount", obs.LabelRole: obs.RoleNode}}}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("sd = %#v, want %#v", doc, want)
	}
	if code, _ := get("/other"); code != http.StatusNotFound {
		t.Fatalf("/other: status %d, want 404", code)
	}
	http.DefaultClient.CloseIdleConnections()
}
