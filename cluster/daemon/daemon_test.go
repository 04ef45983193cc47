package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/gale-stream/gale/cluster"
)

func TestRefusesOpenAPIWithoutToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		_, err := Start(context.Background(), Config{DataDir: t.TempDir(), APIAddr: addr, Insecure: true})
		if err == nil || !strings.Contains(err.Error(), "set a Token") {
			t.Errorf("%s without a token: %v", addr, err)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:7070": true, "localhost:1": true, "[::1]:1": true, "0.0.0.0:1": false, ":1": false, "10.0.0.1:1": false, "bad": false} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v", addr, got)
		}
	}
}

func TestWorkerAddrs(t *testing.T) {
	a := &cluster.Assignment{Epoch: 5, Placement: &cluster.Placement{Topologies: []cluster.TopologyPlacement{
		{Name: "a", Workers: []cluster.WorkerPlacement{{Node: "n1", Since: 4}, {Node: "n2", Since: 2}, {Node: "n1", Since: 2}}},
		{Name: "b", Workers: []cluster.WorkerPlacement{{Node: "n1", Since: 3}}},
	}}}
	got := workerAddrs(a, map[string]string{"n1": "10.0.0.1:7100", "n2": "10.0.0.2:7200"})
	want := map[cluster.WorkerRef]string{
		{Topology: "a", Index: 2}: "10.0.0.1:7100", // since 2
		{Topology: "b", Index: 0}: "10.0.0.1:7101", // since 3
		{Topology: "a", Index: 0}: "10.0.0.1:7102", // since 4
		{Topology: "a", Index: 1}: "10.0.0.2:7200",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%v: %s, want %s", k, got[k], v)
		}
	}
}
