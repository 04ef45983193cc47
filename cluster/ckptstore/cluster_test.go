package ckptstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/cluster"
	"github.com/gale-stream/gale/cluster/api"
	"github.com/gale-stream/gale/cluster/binstore"
	"github.com/gale-stream/gale/cluster/ckptstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCluster is what api.Server needs of a node; the checkpoint endpoints
// use none of it.
type fakeCluster struct{ id string }

func (f fakeCluster) ID() string                             { return f.id }
func (f fakeCluster) Members() []cluster.Member              { return nil }
func (f fakeCluster) Topologies() []cluster.TopologyInfo     { return nil }
func (f fakeCluster) Assignment() *cluster.Assignment        { return nil }
func (f fakeCluster) PutTopology(cluster.TopologyInfo) error { return nil }
func (f fakeCluster) KillTopology(string) error              { return nil }

// node is one in-process node: a real api.Server with a ckptstore.Server,
// serving HTTP on 127.0.0.1.
type node struct {
	id  string
	dir string // the checkpoint store's Dir
	srv *httptest.Server
	ck  *ckptstore.Server
}

// testCluster is nodes that see each other as peers while alive.
type testCluster struct {
	t       testing.TB
	token   string
	client  *http.Client
	mu      sync.Mutex
	nodes   []*node
	alive   map[string]bool
	workers map[string]string // topology -> worker token
	extra   []ckptstore.Peer
}

type clusterOpts struct {
	replicas    int
	token       string
	maxFileSize int64
	peerTimeout time.Duration
	pruneAfter  time.Duration
	// stalled adds a peer that accepts requests and never answers.
	stalled bool
}

func newCluster(t testing.TB, n int, o clusterOpts) *testCluster {
	t.Helper()
	tr := &http.Transport{}
	c := &testCluster{t: t, token: o.token, client: &http.Client{Transport: tr},
		alive: make(map[string]bool), workers: map[string]string{"clicks": "worker-secret"}}
	t.Cleanup(tr.CloseIdleConnections)
	quiet := slog.New(slog.DiscardHandler)
	for i := range n {
		id := string(rune('a' + i))
		store, err := binstore.Open(filepath.Join(t.TempDir(), "bin"), 0)
		if err != nil {
			t.Fatal(err)
		}
		nd := &node{id: id, dir: filepath.Join(t.TempDir(), "checkpoints")}
		ck, err := ckptstore.New(ckptstore.Config{
			Dir: nd.dir, Self: id, Peers: func() []ckptstore.Peer { return c.peersOf(id) },
			Replicas: o.replicas, Token: o.token, HTTPClient: c.client, MaxFileSize: o.maxFileSize, Logger: quiet,
			PeerTimeout: o.peerTimeout, PruneAfter: o.pruneAfter,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := api.NewServer(api.Config{Cluster: fakeCluster{id}, Store: store, Token: o.token, Logger: quiet,
			Checkpoints: ck,
			WorkerToken: func(topology string) (string, bool) {
				tok, ok := c.workers[topology]
				return tok, ok
			}})
		if err != nil {
			t.Fatal(err)
		}
		nd.ck = ck
		nd.srv = httptest.NewServer(srv.Handler())
		t.Cleanup(nd.srv.Close)
		c.nodes = append(c.nodes, nd)
		c.alive[id] = true
	}
	if o.stalled {
		stop := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(stop) })
		c.extra = append(c.extra, ckptstore.Peer{ID: "stalled", API: srv.URL})
	}
	return c
}

func (c *testCluster) peersOf(id string) []ckptstore.Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.extra)
	for _, n := range c.nodes {
		if n.id != id && c.alive[n.id] {
			out = append(out, ckptstore.Peer{ID: n.id, API: n.srv.URL})
		}
	}
	return out
}

// kill stops a node: it no longer answers, and the others no longer list
// it once membership notices (now).
func (c *testCluster) kill(n *node) {
	n.srv.Close()
	c.mu.Lock()
	c.alive[n.id] = false
	c.mu.Unlock()
}

// crash stops a node's server while the others still think it alive, as
// between a crash and failure detection.
func (c *testCluster) crash(n *node) { n.srv.Close() }

func (c *testCluster) space(n *node, token, topology string) *ckptstore.Space {
	return ckptstore.NewSpace(n.srv.URL, token, topology, c.client)
}

func (c *testCluster) storage(n *node, topology, namespace string) *ckptstore.Storage {
	c.t.Helper()
	st, err := c.space(n, c.token, topology).Namespace(context.Background(), namespace)
	if err != nil {
		c.t.Fatal(err)
	}
	return st.(*ckptstore.Storage)
}

// holds reports whether node n has its own copy of a file.
func holds(n *node, topology, namespace, name string) bool {
	_, err := os.Stat(filepath.Join(n.dir, topology, namespace, "files", filepath.FromSlash(name)))
	return err == nil
}

// holdsManifest reports whether node n has its own copy of a manifest.
func holdsManifest(n *node, topology, namespace string, id uint64) bool {
	_, err := os.Stat(filepath.Join(n.dir, topology, namespace, "manifests", fmt.Sprintf("%020d.json", id)))
	return err == nil
}

// countFiles counts the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			n++
		}
		return nil
	})
	return n
}
