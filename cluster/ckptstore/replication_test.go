package ckptstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gale-stream/gale/cluster/ckptstore"
	"github.com/gale-stream/gale/state"
	"github.com/gale-stream/gale/state/statetest"
)

// The contract cases of state.CheckpointStorage, through a node's API, on
// one node and on a cluster of three that replicates to two.
func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
		token string
	}{
		{"one node", 1, ""},
		{"three nodes, two replicas, token", 3, "cluster-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.nodes, clusterOpts{token: tc.token})
			var n atomic.Int64
			statetest.TestStorage(t, func(t *testing.T) state.CheckpointStorage {
				return c.storage(c.nodes[0], "clicks", fmt.Sprintf("worker-%d", n.Add(1)))
			})
		})
	}
}

func readAll(t *testing.T, st state.CheckpointStorage, name string) string {
	t.Helper()
	r, err := st.OpenFile(context.Background(), name)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func put(t *testing.T, st state.CheckpointStorage, name, content string) {
	t.Helper()
	if n, err := st.PutFile(context.Background(), name, strings.NewReader(content)); err != nil || n != int64(len(content)) {
		t.Fatalf("PutFile(%s) = %d, %v", name, n, err)
	}
}

// A write through a node reaches two other nodes before it returns; the
// namespace then reads whole through any survivor once the writer is gone,
// including a node that held none of it and must fetch.
func TestReplicatedWriteSurvivesItsNode(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 4, clusterOpts{replicas: 2})
	writer := c.nodes[0]
	st := c.storage(writer, "clicks", "worker-0")
	big := strings.Repeat("0123456789", 100_000)
	put(t, st, "sst/s1/000001.sst", big)
	put(t, st, "ckpt/00000000000000000001/s1/MANIFEST-000001", "pebble manifest")
	if err := st.PutManifest(ctx, 1, []byte(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	var replicas, others []*node
	for _, n := range c.nodes[1:] {
		if holds(n, "clicks", "worker-0", "sst/s1/000001.sst") {
			replicas = append(replicas, n)
		} else {
			others = append(others, n)
		}
	}
	if len(replicas) != 2 || len(others) != 1 {
		t.Fatalf("file on %d other nodes, want 2 replicas", len(replicas))
	}
	for _, r := range replicas {
		if !holds(r, "clicks", "worker-0", "ckpt/00000000000000000001/s1/MANIFEST-000001") || !holdsManifest(r, "clicks", "worker-0", 1) {
			t.Fatalf("replica %s lacks the second file or the manifest", r.id)
		}
	}
	if countFiles(t, others[0].dir) != 0 {
		t.Fatalf("node %s, not a replica, holds files", others[0].id)
	}

	// Another write of the namespace goes to the same replicas.
	put(t, st, "sst/s1/000002.sst", "two")
	for _, r := range replicas {
		if !holds(r, "clicks", "worker-0", "sst/s1/000002.sst") {
			t.Fatalf("replica %s did not get the namespace's next file", r.id)
		}
	}

	c.kill(writer)
	// Lose a replica too: R=2 keeps the namespace through two failures.
	c.kill(replicas[0])
	for _, reader := range []*node{others[0], replicas[1]} {
		t.Run("read through "+reader.id, func(t *testing.T) {
			st := c.storage(reader, "clicks", "worker-0")
			ids, err := st.ListManifests(ctx)
			if err != nil || !slices.Equal(ids, []uint64{1}) {
				t.Fatalf("ListManifests = %v, %v", ids, err)
			}
			if m, err := st.GetManifest(ctx, 1); err != nil || string(m) != `{"id":1}` {
				t.Fatalf("GetManifest = %q, %v", m, err)
			}
			files, err := st.ListFiles(ctx)
			if err != nil || len(files) != 3 {
				t.Fatalf("ListFiles = %v, %v", files, err)
			}
			if got := readAll(t, st, "sst/s1/000001.sst"); got != big {
				t.Fatalf("read %d bytes, want %d", len(got), len(big))
			}
			if got := readAll(t, st, "ckpt/00000000000000000001/s1/MANIFEST-000001"); got != "pebble manifest" {
				t.Fatalf("read %q", got)
			}
			if _, err := st.OpenFile(ctx, "sst/s1/000099.sst"); !errors.Is(err, state.ErrNotFound) {
				t.Fatalf("OpenFile of a file no node has: %v, want ErrNotFound", err)
			}
			if _, err := st.GetManifest(ctx, 7); !errors.Is(err, state.ErrNotFound) {
				t.Fatalf("GetManifest of a manifest no node has: %v, want ErrNotFound", err)
			}
		})
	}
	if !holds(others[0], "clicks", "worker-0", "sst/s1/000001.sst") {
		t.Fatal("the node that fetched the file kept no copy")
	}
}

// A replica that is down but not yet declared dead is skipped for the
// next node in rendezvous order; with no node left to take its place, the
// write fails and leaves nothing behind.
func TestReplicaDown(t *testing.T) {
	ctx := context.Background()
	t.Run("next node takes its place", func(t *testing.T) {
		c := newCluster(t, 4, clusterOpts{replicas: 2})
		st := c.storage(c.nodes[0], "clicks", "worker-1")
		put(t, st, "sst/a/1.sst", "first")
		var first []*node
		for _, n := range c.nodes[1:] {
			if holds(n, "clicks", "worker-1", "sst/a/1.sst") {
				first = append(first, n)
			}
		}
		if len(first) != 2 {
			t.Fatalf("%d replicas", len(first))
		}
		c.crash(first[0])
		put(t, st, "sst/a/2.sst", "second")
		n := 0
		for _, nd := range c.nodes[1:] {
			if nd != first[0] && holds(nd, "clicks", "worker-1", "sst/a/2.sst") {
				n++
			}
		}
		if n != 2 || !holds(c.nodes[0], "clicks", "worker-1", "sst/a/2.sst") {
			t.Fatalf("with a replica down, the file reached %d nodes besides the writer, want 2", n)
		}
	})
	t.Run("too few nodes", func(t *testing.T) {
		c := newCluster(t, 3, clusterOpts{replicas: 2})
		st := c.storage(c.nodes[0], "clicks", "worker-1")
		c.crash(c.nodes[2])
		_, err := st.PutFile(ctx, "sst/a/1.sst", strings.NewReader("data"))
		if !errors.Is(err, ckptstore.ErrUnavailable) {
			t.Fatalf("PutFile with a replica down and no spare node: %v, want ErrUnavailable", err)
		}
		if err := st.PutManifest(ctx, 3, []byte("m")); !errors.Is(err, ckptstore.ErrUnavailable) {
			t.Fatalf("PutManifest: %v, want ErrUnavailable", err)
		}
		for _, n := range c.nodes[:2] {
			if k := countFiles(t, n.dir); k != 0 {
				t.Fatalf("node %s keeps %d files of failed writes", n.id, k)
			}
		}
		// Listing needs every alive node's answer.
		if _, err := st.ListManifests(ctx); !errors.Is(err, ckptstore.ErrUnavailable) {
			t.Fatalf("ListManifests with an alive node not answering: %v, want ErrUnavailable", err)
		}
		// Once membership declares it dead, writes go to the one peer left.
		c.mu.Lock()
		c.alive[c.nodes[2].id] = false
		c.mu.Unlock()
		put(t, st, "sst/a/1.sst", "data")
		if !holds(c.nodes[1], "clicks", "worker-1", "sst/a/1.sst") {
			t.Fatal("the one alive peer did not get the file")
		}
	})
}

// A peer that accepts a request and never answers fails the write after
// the peer timeout, instead of holding it forever.
func TestStalledPeer(t *testing.T) {
	c := newCluster(t, 2, clusterOpts{replicas: 2, peerTimeout: 300 * time.Millisecond, stalled: true})
	st := c.storage(c.nodes[0], "clicks", "worker-0")
	start := time.Now()
	_, err := st.PutFile(context.Background(), "sst/a/1.sst", strings.NewReader("data"))
	if !errors.Is(err, ckptstore.ErrUnavailable) {
		t.Fatalf("PutFile with a stalled replica: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("PutFile took %v", d)
	}
	if _, err := st.ListFiles(context.Background()); !errors.Is(err, ckptstore.ErrUnavailable) {
		t.Fatalf("ListFiles with a stalled peer: %v, want ErrUnavailable", err)
	}
	if k := countFiles(t, c.nodes[0].dir); k != 0 {
		t.Fatalf("a failed write left %d files", k)
	}
}

// Reads and listings of a namespace no node holds create nothing.
func TestReadsCreateNothing(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3, clusterOpts{})
	st := c.storage(c.nodes[0], "clicks", "worker-9")
	if files, err := st.ListFiles(ctx); err != nil || len(files) != 0 {
		t.Fatalf("ListFiles = %v, %v", files, err)
	}
	if ids, err := st.ListManifests(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("ListManifests = %v, %v", ids, err)
	}
	if _, err := st.OpenFile(ctx, "sst/1.sst"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("OpenFile: %v", err)
	}
	if err := st.DeleteFile(ctx, "sst/1.sst"); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if _, err := os.Stat(n.dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("node %s: %v, want no checkpoint directory", n.id, err)
		}
	}
}

// Deletes reach every node that holds a copy.
func TestDeleteReplicated(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3, clusterOpts{replicas: 2})
	st := c.storage(c.nodes[0], "clicks", "commits")
	put(t, st, "x/1", "one")
	if err := st.PutManifest(ctx, 5, []byte("five")); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if !holds(n, "clicks", "commits", "x/1") || !holdsManifest(n, "clicks", "commits", 5) {
			t.Fatalf("node %s lacks a copy", n.id)
		}
	}
	// Delete through another node than the writer.
	other := c.storage(c.nodes[1], "clicks", "commits")
	if err := other.DeleteFile(ctx, "x/1"); err != nil {
		t.Fatal(err)
	}
	if err := other.DeleteManifest(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if holds(n, "clicks", "commits", "x/1") || holdsManifest(n, "clicks", "commits", 5) {
			t.Fatalf("node %s still holds a deleted object", n.id)
		}
	}
	if ids, err := st.ListManifests(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("ListManifests after delete = %v, %v", ids, err)
	}
}

// After the writer dies, a worker writing through another node gets its
// checkpoints replicated again, and a new replica receives the older files
// a new manifest still references.
func TestManifestBringsItsFiles(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 4, clusterOpts{replicas: 2})
	st := c.storage(c.nodes[0], "clicks", "worker-0")
	put(t, st, "sst/s/1.sst", "old sstable")
	m1 := manifestJSON(1, map[string]int64{"sst/s/1.sst": 11})
	if err := st.PutManifest(ctx, 1, m1); err != nil {
		t.Fatal(err)
	}
	c.kill(c.nodes[0])
	// The worker moves to the node that was not a replica.
	var moved *node
	for _, n := range c.nodes[1:] {
		if !holds(n, "clicks", "worker-0", "sst/s/1.sst") {
			moved = n
		}
	}
	if moved == nil {
		t.Fatal("every node is a replica")
	}
	st = c.storage(moved, "clicks", "worker-0")
	put(t, st, "sst/s/2.sst", "new")
	m2 := manifestJSON(2, map[string]int64{"sst/s/1.sst": 11, "sst/s/2.sst": 3})
	if err := st.PutManifest(ctx, 2, m2); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes[1:] {
		if !holdsManifest(n, "clicks", "worker-0", 2) {
			t.Fatalf("alive node %s lacks manifest 2", n.id)
		}
		for _, f := range []string{"sst/s/1.sst", "sst/s/2.sst"} {
			if !holds(n, "clicks", "worker-0", f) {
				t.Fatalf("node %s holds manifest 2 but not its file %s", n.id, f)
			}
		}
	}
}

func manifestJSON(id uint64, files map[string]int64) []byte {
	m := state.Manifest{ID: id}
	for p, size := range files {
		m.Files = append(m.Files, state.ManifestFile{Name: p, Path: p, Size: size})
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// raw sends a request to a node as is.
func raw(t *testing.T, c *testCluster, n *node, method, path, token string, body io.Reader, size int64) int {
	t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Do not follow redirects: a redirect is a refusal here.
	hc := *c.client
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 2, clusterOpts{token: "cluster-secret"})
	n := c.nodes[0]
	for _, tc := range []struct {
		method, path string
	}{
		{"PUT", "/v1/checkpoints/clicks/worker-0/files/sst/1.sst"},
		{"GET", "/v1/checkpoints/clicks/worker-0/files/sst/1.sst"},
		{"DELETE", "/v1/checkpoints/clicks/worker-0/files/sst/1.sst"},
		{"GET", "/v1/checkpoints/clicks/worker-0/files"},
		{"PUT", "/v1/checkpoints/clicks/worker-0/manifests/1"},
		{"GET", "/v1/checkpoints/clicks/worker-0/manifests/1"},
		{"DELETE", "/v1/checkpoints/clicks/worker-0/manifests/1"},
		{"GET", "/v1/checkpoints/clicks/worker-0/manifests"},
		{"PUT", "/v1/checkpoints/clicks/worker-0/files/sst/1.sst?replica=1"},
	} {
		for _, tok := range []string{"", "wrong", "worker-secret-of-another"} {
			var body io.Reader
			if tc.method == "PUT" {
				body = strings.NewReader("data")
			}
			if code := raw(t, c, n, tc.method, tc.path, tok, body, 4); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d, want 401", tc.method, tc.path, tok, code)
			}
		}
	}
	if k := countFiles(t, n.dir); k != 0 {
		t.Fatalf("unauthorized requests stored %d files", k)
	}
	// The client names the node and the cause.
	_, err := c.storage(n, "clicks", "worker-0").ListManifests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := c.space(n, "wrong", "clicks").Namespace(ctx, "worker-0")
	_, err = bad.PutFile(ctx, "sst/1.sst", strings.NewReader("x"))
	if !errors.Is(err, ckptstore.ErrUnauthorized) || !strings.Contains(err.Error(), n.srv.URL) {
		t.Fatalf("PutFile with a wrong token: %v", err)
	}

	// A worker's token opens its topology's checkpoints, not the replica
	// operations and not another topology.
	w, _ := c.space(n, "worker-secret", "clicks").Namespace(ctx, "worker-0")
	put(t, w, "sst/1.sst", "data")
	if !holds(c.nodes[1], "clicks", "worker-0", "sst/1.sst") {
		t.Fatal("a worker's write was not replicated")
	}
	if code := raw(t, c, n, "PUT", "/v1/checkpoints/clicks/worker-0/files/sst/2.sst?replica=1", "worker-secret", strings.NewReader("data"), 4); code != http.StatusForbidden {
		t.Fatalf("replica write with a worker token: %d, want 403", code)
	}
	other, _ := c.space(n, "worker-secret", "other").Namespace(ctx, "worker-0")
	if _, err := other.ListFiles(ctx); !errors.Is(err, ckptstore.ErrUnauthorized) {
		t.Fatalf("a worker token on another topology: %v, want ErrUnauthorized", err)
	}

	// An unreachable node is named.
	c.kill(c.nodes[1])
	gone, _ := c.space(c.nodes[1], "cluster-secret", "clicks").Namespace(ctx, "worker-0")
	if _, err := gone.ListFiles(ctx); !errors.Is(err, ckptstore.ErrUnreachable) || !strings.Contains(err.Error(), c.nodes[1].srv.URL) {
		t.Fatalf("unreachable node: %v", err)
	}
}

func TestBadNamesRefused(t *testing.T) {
	c := newCluster(t, 1, clusterOpts{})
	n := c.nodes[0]
	paths := []string{
		"/v1/checkpoints/clicks/worker-0/files/../../../escape",
		"/v1/checkpoints/clicks/worker-0/files/a/%2e%2e/%2e%2e/%2e%2e/escape",
		"/v1/checkpoints/clicks/worker-0/files/a%2F..%2F..%2F..%2Fescape",
		"/v1/checkpoints/clicks/worker-0/files//abs",
		"/v1/checkpoints/clicks/worker-0/files/a%00b",
		"/v1/checkpoints/clicks/..%2F..%2Fescape/files/x",
		"/v1/checkpoints/clicks/%2e%2e/files/x",
		"/v1/checkpoints/clicks/worker-0%2Ffiles/files/x",
		"/v1/checkpoints/%2e%2e/worker-0/files/x",
		"/v1/checkpoints/..%2F..%2Fescape/worker-0/files/x",
		"/v1/checkpoints/clicks/worker-0/manifests/-1",
		"/v1/checkpoints/clicks/worker-0/manifests/..%2F1",
	}
	for _, p := range paths {
		if code := raw(t, c, n, "PUT", p, "", strings.NewReader("data"), 4); code/100 == 2 {
			t.Errorf("PUT %s: %d", p, code)
		}
	}
	parent := countFiles(t, n.dir+"/..")
	if k := countFiles(t, n.dir); k != 0 || parent != 0 {
		t.Fatalf("refused names stored %d files (%d around the store)", k, parent)
	}
	st := c.storage(n, "clicks", "worker-0")
	for _, name := range []string{"../x", "a/../../b", "/abs", "a//b", "a b", ""} {
		if _, err := st.PutFile(context.Background(), name, strings.NewReader("x")); !errors.Is(err, ckptstore.ErrRefused) {
			t.Errorf("client PutFile(%q): %v, want ErrRefused", name, err)
		}
	}
	if _, err := c.space(n, "", "clicks").Namespace(context.Background(), "../x"); err == nil {
		t.Error("namespace ../x accepted")
	}
}

func TestOversizedBodiesRefused(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 2, clusterOpts{maxFileSize: 1000})
	n := c.nodes[0]
	big := strings.Repeat("x", 1001)
	if code := raw(t, c, n, "PUT", "/v1/checkpoints/clicks/worker-0/files/sst/1.sst", "", strings.NewReader(big), 1001); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("announced oversized file: %d, want 413", code)
	}
	// Without a length, the node stops reading at the limit.
	st := c.storage(n, "clicks", "worker-0")
	if _, err := st.PutFile(ctx, "sst/1.sst", strings.NewReader(big)); !errors.Is(err, ckptstore.ErrRefused) {
		t.Fatalf("streamed oversized file: %v, want ErrRefused", err)
	}
	put(t, st, "sst/2.sst", big[:1000])
	manifest := bytes.Repeat([]byte("m"), ckptstore.MaxManifestSize+1)
	if err := st.PutManifest(ctx, 1, manifest); !errors.Is(err, ckptstore.ErrRefused) {
		t.Fatalf("oversized manifest: %v, want ErrRefused", err)
	}
	for _, nd := range c.nodes {
		if holds(nd, "clicks", "worker-0", "sst/1.sst") || holdsManifest(nd, "clicks", "worker-0", 1) {
			t.Fatalf("node %s stored an oversized body", nd.id)
		}
	}
}
