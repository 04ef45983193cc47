package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/cluster/ckptstore"
	"github.com/gale-stream/gale/state"
)

// Three in-process nodes replicate checkpoints written through one of them
// to the two others; once it is gone, a survivor serves them.
func TestCheckpointReplication(t *testing.T) {
	ctx := context.Background()
	const token = "cluster-secret"
	quiet := slog.New(slog.DiscardHandler)
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	dirs := map[string]string{}
	start := func(id string, seeds ...string) *Daemon {
		dirs[id] = t.TempDir()
		d, err := Start(ctx, Config{
			NodeID: id, DataDir: dirs[id], APIAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
			DataAddr: "127.0.0.1:7100", MetricsAddr: "off", Token: token, Insecure: true, LocalGossip: true,
			Seeds: seeds, JoinTimeout: 10 * time.Second, Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = d.Shutdown(sctx)
		})
		return d
	}
	a := start("a")
	b := start("b", a.Info().GossipAddr)
	c := start("c", a.Info().GossipAddr)
	waitUntil(t, 15*time.Second, "three alive members", func() bool {
		for _, d := range []*Daemon{a, b, c} {
			if len(d.checkpointPeers()) != 2 {
				return false
			}
		}
		return true
	})

	st, err := ckptstore.NewSpace(a.Info().API, token, "clicks", hc).Namespace(ctx, "worker-0")
	if err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("sstable ", 10_000)
	if _, err := st.PutFile(ctx, "sst/s1/000001.sst", strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if err := st.PutManifest(ctx, 1, []byte(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b", "c"} {
		b, err := os.ReadFile(filepath.Join(dirs[id], "checkpoints", "clicks", "worker-0", "files", "sst", "s1", "000001.sst"))
		if err != nil || string(b) != content {
			t.Fatalf("node %s: %d bytes, %v", id, len(b), err)
		}
	}

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "a gone from b's peers", func() bool { return len(b.checkpointPeers()) == 1 })
	st, _ = ckptstore.NewSpace(b.Info().API, token, "clicks", hc).Namespace(ctx, "worker-0")
	ids, err := st.ListManifests(ctx)
	if err != nil || !slices.Equal(ids, []uint64{1}) {
		t.Fatalf("ListManifests through b = %v, %v", ids, err)
	}
	r, err := st.OpenFile(ctx, "sst/s1/000001.sst")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != content {
		t.Fatalf("read %d bytes through b, %v", len(got), err)
	}
	// A write through b now needs only c.
	if _, err := st.PutFile(ctx, "sst/s1/000002.sst", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirs["c"], "checkpoints", "clicks", "worker-0", "files", "sst", "s1", "000002.sst")); err != nil {
		t.Fatal(err)
	}

	// Without the token, or with a worker token of a topology that was
	// never submitted, nothing is served.
	for _, tok := range []string{"", "guess"} {
		anon, _ := ckptstore.NewSpace(b.Info().API, tok, "clicks", hc).Namespace(ctx, "worker-0")
		if _, err := anon.ListManifests(ctx); !errors.Is(err, ckptstore.ErrUnauthorized) {
			t.Fatalf("token %q: %v, want ErrUnauthorized", tok, err)
		}
	}
	if _, ok := b.topologyToken("clicks"); ok {
		t.Fatal("a worker token for a topology never submitted")
	}
	if _, err := st.GetManifest(ctx, 2); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("missing manifest: %v, want ErrNotFound", err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:7070": "http://127.0.0.1:7070",
		"0.0.0.0:7070":   "http://127.0.0.1:7070",
		"[::]:7070":      "http://127.0.0.1:7070",
		"10.1.2.3:7070":  "http://10.1.2.3:7070",
		"[::1]:7070":     "http://[::1]:7070",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := localURL(tcp); got != want {
			t.Errorf("localURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
