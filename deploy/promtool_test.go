package deploy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gale-stream/gale/internal/obs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// glog's flush daemon, started by an import of a dependency.
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
	)
}

// promtool runs promtool with args and stdin, returning its combined output.
func promtool(t *testing.T, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool(t, "promtool"), args...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPromtoolCheck runs promtool check config over the shipped scrape
// configuration (which also checks the rule files it names) and promtool
// check rules over the alerting rules.
func TestPromtoolCheck(t *testing.T) {
	rules := strings.Count(readFile(t, "prometheus/alerts.yml"), "- alert:")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"config", []string{"check", "config", "prometheus/prometheus.yml"},
			[]string{"SUCCESS: prometheus/prometheus.yml is valid prometheus config file syntax", "SUCCESS: 1 rule files found"}},
		{"rules", []string{"check", "rules", "prometheus/alerts.yml"},
			[]string{"SUCCESS: " + strconv.Itoa(rules) + " rules found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := promtool(t, nil, tc.args...)
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("promtool %s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
				}
			}
		})
	}
}

// TestPromtoolCheckMetrics lints a live /metrics page of the running
// environment (both topologies, the Kafka spout, the cluster node, the
// state store, Go and process metrics) with promtool check metrics, which
// must report nothing.
func TestPromtoolCheckMetrics(t *testing.T) {
	tool(t, "promtool")
	e := startEnv(t)
	deadline := time.Now().Add(20 * time.Second)
	for counterSum(t, e.reg, "gale_spout_acked_tuples_total", wordsTopology) == 0 ||
		counterSum(t, e.reg, "gale_kafka_consumer_fetched_records_total", clicksTopology) == 0 ||
		counterSum(t, e.reg, "gale_state_checkpoint_last_id", "") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for acked sentences, fetched records and a checkpoint")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL(obs.MetricsPath), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	for _, want := range []string{"gale_executor_emitted_tuples_total{", "gale_kafka_consumer_lag{", "gale_cluster_members{", "gale_state_checkpoint_last_id "} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	out, err := promtool(t, bytes.NewReader(page), "check", "metrics")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("promtool check metrics over %d bytes: %v\n%s", len(page), err, out)
	}
	t.Logf("promtool check metrics: %d bytes, %d lines, no problems", len(page), bytes.Count(page, []byte("\n")))
}
