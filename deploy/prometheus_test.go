package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// promServer is a real Prometheus server started for one test.
type promServer struct {
	t    *testing.T
	url  string // http://127.0.0.1:port
	dir  string // config, rules and log live here
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startPrometheus starts prometheus with deploy/prometheus/prometheus.yml,
// changed only where a test must: the discovery URL points at sdURL, and
// intervals are 1s instead of 15s so the test needs seconds, not minutes.
// It also loads forced.yml, empty at first (see [promServer.forceRules]).
func startPrometheus(t *testing.T, bin, sdURL string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := readFile(t, "prometheus/prometheus.yml")
	for _, r := range []struct{ old, new string }{
		{"url: http://gale-node-1:9464/prometheus/sd", "url: " + sdURL},
		{"refresh_interval: 30s", "refresh_interval: 1s"},
		{"scrape_interval: 15s", "scrape_interval: 1s"},
		{"scrape_timeout: 10s", "scrape_timeout: 1s"},
		{"evaluation_interval: 15s", "evaluation_interval: 1s"},
		{"  - alerts.yml\n", "  - alerts.yml\n  - forced.yml\n"},
	} {
		if strings.Count(cfg, r.old) != 1 {
			t.Fatalf("prometheus.yml: %q does not occur exactly once; update the test with the file", r.old)
		}
		cfg = strings.Replace(cfg, r.old, r.new, 1)
	}
	writeFile(t, filepath.Join(dir, "prometheus.yml"), cfg)
	writeFile(t, filepath.Join(dir, "alerts.yml"), readFile(t, "prometheus/alerts.yml"))
	writeFile(t, filepath.Join(dir, "forced.yml"), "groups: []\n")

	// A free port: bind, read it, release it for Prometheus.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	p := &promServer{t: t, url: "http://" + addr, dir: dir, log: filepath.Join(dir, "prometheus.log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("prometheus log:\n%s", b)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	p.eventually(t, 20*time.Second, "prometheus ready", func() error {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

// eventually polls cond every 250ms until it returns nil, failing the test
// with the last error after d, or at once if Prometheus exited.
func (p *promServer) eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("prometheus exited while waiting for %s: %v\n%s", what, err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v waiting for %s: %v", d, what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// apiResponse is the envelope of Prometheus' HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// get calls the API and decodes data into v.
func (p *promServer) get(path string, params url.Values, v any) error {
	u := p.url + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("GET %s: %s: %s", path, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// sample is one series of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// float is the sample's value; NaN if it is not a number.
func (s sample) float() float64 {
	str, _ := s.Value[1].(string)
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// query evaluates expr now. A scalar result is returned as one sample.
func (p *promServer) query(expr string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var v []sample
		err := json.Unmarshal(data.Result, &v)
		return v, err
	case "scalar":
		var s [2]any
		err := json.Unmarshal(data.Result, &s)
		return []sample{{Value: s}}, err
	}
	return nil, fmt.Errorf("query %s: result type %s", expr, data.ResultType)
}

// hasData says whether samples hold at least one value that is a number
// (NaN is no data: an empty histogram or a 0/0 gives it).
func hasData(samples []sample) bool {
	for _, s := range samples {
		if v, ok := s.Value[1].(string); ok && v != "NaN" {
			return true
		}
	}
	return false
}

// labelValues is Grafana's label_values(selector, label).
func (p *promServer) labelValues(selector, label string) ([]string, error) {
	var vals []string
	params := url.Values{"match[]": {selector}, "start": {fmt.Sprint(time.Now().Add(-5 * time.Minute).Unix())}}
	err := p.get("/api/v1/label/"+label+"/values", params, &vals)
	return vals, err
}

// target is one entry of /api/v1/targets.
type target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

func (p *promServer) targets() ([]target, error) {
	var data struct {
		Active []target `json:"activeTargets"`
	}
	err := p.get("/api/v1/targets", url.Values{"state": {"active"}}, &data)
	return data.Active, err
}

// waitForTargets waits until discovery found both targets of e, the live
// one is up, the gone one down, and the live one was scraped n times.
func (p *promServer) waitForTargets(e *env, n int) {
	p.t.Helper()
	p.eventually(p.t, 30*time.Second, "discovery and scrapes", func() error {
		ts, err := p.targets()
		if err != nil {
			return err
		}
		health := map[string]string{}
		for _, tg := range ts {
			health[tg.Labels["node"]] = tg.Health
			if tg.Labels["job"] != "gale" {
				return fmt.Errorf("target %s in job %q, want gale", tg.ScrapeURL, tg.Labels["job"])
			}
		}
		if health[nodeID] != "up" || health[goneNodeID] != "down" {
			return fmt.Errorf("target health by node: %v, want %s up and %s down (targets %+v)", health, nodeID, goneNodeID, ts)
		}
		s, err := p.query(fmt.Sprintf(`count_over_time(up{job="gale", node=%q}[1m])`, nodeID))
		if err != nil {
			return err
		}
		if len(s) != 1 || s[0].float() < float64(n) {
			return fmt.Errorf("scrapes of %s: %v, want %d", nodeID, s, n)
		}
		return nil
	})
}

// reload makes Prometheus read its configuration and rule files again.
func (p *promServer) reload(t *testing.T) {
	t.Helper()
	resp, err := http.Post(p.url+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: status %d: %s", resp.StatusCode, b)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
