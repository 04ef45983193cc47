package obs

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths of the endpoints [NewHandler] serves.
const (
	MetricsPath = "/metrics"
	SDPath      = "/prometheus/sd"
)

// Discovery labels. Prometheus offers them to relabeling and drops them
// afterwards; see the package documentation for why they are not plain
// target labels.
const (
	LabelNode     = "__meta_gale_node"     // the node id that runs the target
	LabelTopology = "__meta_gale_topology" // the topology the target runs, if one
	LabelWorker   = "__meta_gale_worker"   // the worker index within its topology
	LabelRole     = "__meta_gale_role"     // "node" for a node's own page, "worker" for a worker's
)

// Roles, the values of [LabelRole].
const (
	RoleNode   = "node"
	RoleWorker = "worker"
)

// Target is one metrics endpoint to scrape.
type Target struct {
	// Addr is the host:port serving /metrics.
	Addr string
	// Labels are attached to the target. Use the Label constants; keys
	// should start with "__meta_" (see the package documentation).
	Labels map[string]string
}

// Group is one entry of the http_sd document: targets sharing labels.
type Group struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// Groups turns targets into the entries of the http_sd document: targets
// with equal labels share an entry, targets without an address are left
// out, duplicates are removed, and both entries and their targets are
// sorted. The result is never nil, so it encodes as [] when empty, which
// Prometheus requires.
func Groups(targets []Target) []Group {
	byKey := map[string]*Group{}
	for _, t := range targets {
		if t.Addr == "" {
			continue
		}
		k := labelKey(t.Labels)
		g, ok := byKey[k]
		if !ok {
			g = &Group{Labels: maps.Clone(t.Labels)}
			byKey[k] = g
		}
		if !slices.Contains(g.Targets, t.Addr) {
			g.Targets = append(g.Targets, t.Addr)
		}
	}
	out := make([]Group, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		g := byKey[k]
		slices.Sort(g.Targets)
		out = append(out, *g)
	}
	slices.SortStableFunc(out, func(a, b Group) int { return cmp.Compare(a.Targets[0], b.Targets[0]) })
	return out
}

// labelKey is a canonical string of a label set.
func labelKey(l map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// SDHandler serves the http_sd document of the targets list returns. list
// is called once per request, from the request's goroutine, so it must be
// safe for concurrent use; a nil list serves an empty document.
func SDHandler(list func() []Target) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var targets []Target
		if list != nil {
			targets = list()
		}
		body, err := json.Marshal(Groups(targets))
		if err != nil { // cannot happen: strings and maps of strings only
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(body, '\n'))
	})
}

// MetricsHandler serves the text exposition of g. Errors of single
// collectors are served as HTTP 500 with the error, so Prometheus marks the
// scrape failed instead of storing a partial page.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
}

// NewHandler serves [MetricsPath] from g and [SDPath] from list, and 404
// for everything else.
func NewHandler(g prometheus.Gatherer, list func() []Target) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, MetricsHandler(g))
	mux.Handle(SDPath, SDHandler(list))
	return mux
}

// NodeTarget is the target of a node's own /metrics at addr.
func NodeTarget(addr, node string) Target {
	return Target{Addr: addr, Labels: map[string]string{LabelNode: node, LabelRole: RoleNode}}
}

// WorkerTarget is the target of worker index worker of topology, run by
// node, serving /metrics at addr. A cluster node's discovery callback lists
// its own [NodeTarget] and one WorkerTarget per worker process it knows.
func WorkerTarget(addr, node, topology string, worker int) Target {
	return Target{Addr: addr, Labels: map[string]string{
		LabelNode: node, LabelRole: RoleWorker, LabelTopology: topology, LabelWorker: strconv.Itoa(worker),
	}}
}

// Self returns a target list naming only addr: a process that runs its
// topology itself (gale dev, the examples) discovers itself. node and
// topology may be empty, in which case their labels are left out.
func Self(addr, node, topology string) func() []Target {
	labels := map[string]string{LabelRole: RoleNode}
	if node != "" {
		labels[LabelNode] = node
	}
	if topology != "" {
		labels[LabelTopology] = topology
	}
	return func() []Target { return []Target{{Addr: addr, Labels: maps.Clone(labels)}} }
}
