package deploy_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/internal/obs"
)

// TestDashboardQueriesOnPrometheus is the end-to-end check of deploy/: a
// real Prometheus finds the running environment through the discovery
// endpoint and deploy/prometheus/prometheus.yml, then every query of every
// dashboard panel, for every value of every single-value template variable
// (multi-value variables set to All), must return a number, every template
// variable must have values, and every alert must parse, evaluate and fire
// when its condition is forced.
func TestDashboardQueriesOnPrometheus(t *testing.T) {
	bin := tool(t, "prometheus")
	e := startEnv(t)
	p := startPrometheus(t, bin, e.srv.URL(obs.SDPath))
	start := time.Now()
	p.waitForTargets(e, 8)
	t.Logf("targets discovered and scraped 8 times in %v", time.Since(start).Round(time.Millisecond))

	t.Run("panels", func(t *testing.T) { checkPanels(t, p, loadDashboards(t)) })
	t.Run("alerts", func(t *testing.T) { checkAlerts(t, p) })
	t.Run("lag", func(t *testing.T) { checkLagAgainstBroker(t, p, e) })
}

// checkLagAgainstBroker compares the committed lag Prometheus reports with
// the lag computed from the broker — high watermarks minus the group's
// committed offsets — while the producer writes (within what one scrape
// interval plus one lag refresh can add), and exactly once it has stopped
// and the topology caught up.
func checkLagAgainstBroker(t *testing.T, p *promServer, e *env) {
	broker := func() float64 {
		hw, err := e.kafka.HighWatermarks(t.Context(), clicksTopic)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := e.kafka.Committed(t.Context(), "gale-"+clicksTopology, clicksTopic)
		if err != nil {
			t.Fatal(err)
		}
		var lag float64
		for part, h := range hw {
			lag += float64(h - committed[part])
		}
		return lag
	}
	prom := func() float64 {
		s, err := p.query(`sum(gale_kafka_consumer_committed_lag{topic="` + clicksTopic + `"})`)
		if err != nil || len(s) != 1 {
			t.Fatalf("query committed lag: %v %v", s, err)
		}
		return s[0].float()
	}
	// The producer writes 300 records/s; one scrape interval (1s) plus one
	// lag refresh (200ms) is about 360 records.
	const slack = 400
	for range 5 {
		b1 := broker()
		pl := prom()
		b2 := broker()
		t.Logf("committed lag: broker %v, Prometheus %v, broker %v", b1, pl, b2)
		if pl < min(b1, b2)-slack || pl > max(b1, b2)+slack {
			t.Errorf("Prometheus reports committed lag %v, the broker %v then %v", pl, b1, b2)
		}
		time.Sleep(300 * time.Millisecond)
	}
	e.stopProducing()
	p.eventually(t, 20*time.Second, "equal lag once the producer stopped", func() error {
		b := broker()
		pl := prom()
		if b != 0 || pl != b {
			return fmt.Errorf("Prometheus %v, broker %v", pl, b)
		}
		return nil
	})
}

// check is one query to evaluate.
type check struct {
	where  string // dashboard, panel, query and binding, for messages
	expr   string
	legend string // legendFormat: every {{label}} must be on the result
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legendProblem names a label the legend shows that no series of the
// result carries, which Grafana would render as an empty string.
func legendProblem(legend string, s []sample) string {
	for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
		found := false
		for _, x := range s {
			_, ok := x.Metric[m[1]]
			found = found || ok
		}
		if !found {
			return fmt.Sprintf("legend %q shows {{%s}}, which no series of the result has", legend, m[1])
		}
	}
	return ""
}

func checkPanels(t *testing.T, p *promServer, ds []*dashboard) {
	var checks []check
	evaluated := map[string]bool{}
	for _, d := range ds {
		bindings := resolveVariables(t, p, d, d.Templating.List, binding{})
		if len(bindings) == 0 {
			t.Errorf("%s: template variables have no values", d.file)
			continue
		}
		for _, b := range bindings {
			for _, pn := range d.allPanels() {
				for _, tg := range pn.Targets {
					where := fmt.Sprintf("%s / %q / %s [%s]", d.file, pn.Title, tg.RefID, b)
					if m := allowListed(tg.Expr); m != "" {
						t.Logf("not evaluated (metric %s not exported yet: %s): %s", m, missingMetrics[m], where)
						continue
					}
					expr := substitute(tg.Expr, b)
					if strings.Contains(expr, "$") {
						t.Errorf("%s: unresolved variable in %s", where, expr)
						continue
					}
					for _, m := range metricNames(expr) {
						evaluated[m] = true
					}
					checks = append(checks, check{where, expr, tg.LegendFormat})
				}
			}
		}
	}
	for m, why := range missingMetrics {
		if evaluated[m] {
			t.Errorf("metric %s is allow-listed as missing but some panel evaluated it", m)
		}
		if files := sourceMentions(t, m); len(files) > 0 {
			t.Errorf("metric %s is allow-listed as missing (%s) but %v mention it: remove it from missingMetrics and make the test environment produce it", m, why, files)
		}
	}

	// Rates and quantiles need a few samples in their window; poll each
	// query until it returns a number or the deadline passes.
	pending := checks
	deadline := time.Now().Add(30 * time.Second)
	var lastErr = map[string]string{}
	for len(pending) > 0 && time.Now().Before(deadline) {
		var next []check
		for _, c := range pending {
			s, err := p.query(c.expr)
			switch {
			case err != nil:
				lastErr[c.where] = err.Error()
				next = append(next, c)
			case !hasData(s):
				lastErr[c.where] = fmt.Sprintf("no data: %v", s)
				next = append(next, c)
			default:
				if msg := legendProblem(c.legend, s); msg != "" {
					t.Errorf("%s\n\t%s\n\t%s", c.where, c.expr, msg)
				}
			}
		}
		pending = next
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	for _, c := range pending {
		t.Errorf("%s\n\t%s\n\t%s", c.where, c.expr, lastErr[c.where])
	}
	t.Logf("%d panel queries over %d dashboards returned data", len(checks)-len(pending), len(ds))
}

// allowListed returns the missing metric expr uses, if any.
func allowListed(expr string) string {
	for _, m := range metricNames(expr) {
		if _, ok := missingMetrics[m]; ok {
			return m
		}
	}
	return ""
}

// resolveVariables evaluates the query variables in order, as Grafana
// does: label_values through Prometheus, with the variables before them
// substituted. A multi-value variable with All gets Grafana's All value, a
// regex of every value; a single-value variable gets each of its values in
// turn, so the result is every binding of the dashboard.
func resolveVariables(t *testing.T, p *promServer, d *dashboard, vars []variable, b binding) []binding {
	if len(vars) == 0 {
		return []binding{b}
	}
	v, rest := vars[0], vars[1:]
	if v.Type != "query" {
		return resolveVariables(t, p, d, rest, b)
	}
	selector, label, _ := parseLabelValues(v.query())
	selector = substitute(selector, b)
	if selector == "" {
		selector = fmt.Sprintf(`{%s=~".+"}`, label)
	}
	vals, err := p.labelValues(selector, label)
	if err != nil {
		t.Errorf("%s: variable %s: %v", d.file, v.Name, err)
		return nil
	}
	if len(vals) == 0 {
		t.Errorf("%s: variable %s: label_values(%s, %s) has no values", d.file, v.Name, selector, label)
		return nil
	}
	with := func(val string) binding {
		nb := binding{}
		for k, x := range b {
			nb[k] = x
		}
		nb[v.Name] = val
		return nb
	}
	if v.Multi && v.IncludeAll {
		quoted := make([]string, len(vals))
		for i, x := range vals {
			quoted[i] = regexp.QuoteMeta(x)
		}
		return resolveVariables(t, p, d, rest, with("("+strings.Join(quoted, "|")+")"))
	}
	var out []binding
	for _, x := range vals {
		out = append(out, resolveVariables(t, p, d, rest, with(x))...)
	}
	return out
}

// forcedAlert says how the test makes an alert of alerts.yml fire: the
// replacements relax its thresholds (each old text must occur exactly once
// in the rule), `for` becomes 0s, and the firing alert must carry the
// labels in want. No replacement means the condition is really true in the
// test environment.
type forcedAlert struct {
	replace [][2]string
	want    map[string]string
}

var forcedAlerts = map[string]forcedAlert{
	// Lag is small and drains in the test; relax "growing" to "any slope".
	"GaleKafkaLagGrowing": {
		replace: [][2]string{
			{"(deriv(gale_kafka_consumer_lag[10m])) > 0", "(deriv(gale_kafka_consumer_lag[10m])) > -Inf"},
			{"(gale_kafka_consumer_lag) > 1000", "(gale_kafka_consumer_lag) >= 0"},
		},
		want: map[string]string{"topology": clicksTopology, "topic": clicksTopic},
	},
	// Real: the flaky bolt fails about a fifth of the word count's trees.
	"GaleTupleFailureRateHigh": {want: map[string]string{"topology": wordsTopology}},
	// Checkpoints complete every 500ms; relax "none in 10m" to "any number".
	"GaleCheckpointTooOld": {
		replace: [][2]string{{"changes(gale_state_checkpoint_last_id[10m]) == 0", "changes(gale_state_checkpoint_last_id[10m]) >= 0"}},
		want:    map[string]string{"node": nodeID},
	},
	// Real: the supervisor restarts a crashing worker every half second.
	"GaleWorkerCrashLooping": {want: map[string]string{"node": nodeID, "topology": wordsTopology}},
	// Real: discovery lists a target on a node that is gone.
	"GaleNodeDown": {want: map[string]string{"node": goneNodeID}},
}

var forRe = regexp.MustCompile(`(?m)^(\s+for:) \S+$`)

// forcedRules rewrites alerts.yml into the forced rule file.
func forcedRules(t *testing.T, src string) string {
	t.Helper()
	const sep = "      - alert: "
	head, blocks, _ := strings.Cut(src, sep)
	if strings.Count(head, "  - name: gale\n") != 1 {
		t.Fatal(`alerts.yml: group "gale" not found`)
	}
	out := strings.Replace(head, "  - name: gale\n", "  - name: gale-forced\n", 1)
	seen := map[string]bool{}
	for _, block := range strings.Split(blocks, sep) {
		name, _, _ := strings.Cut(block, "\n")
		f, ok := forcedAlerts[name]
		if !ok {
			t.Errorf("alert %s has no entry in forcedAlerts: say how the test makes it fire", name)
			continue
		}
		seen[name] = true
		for _, r := range f.replace {
			if strings.Count(block, r[0]) != 1 {
				t.Errorf("alert %s: %q does not occur exactly once; update forcedAlerts with alerts.yml", name, r[0])
			}
			block = strings.Replace(block, r[0], r[1], 1)
		}
		if len(forRe.FindAllString(block, -1)) != 1 || strings.Count(block, "        labels:\n") != 1 {
			t.Errorf("alert %s: want one for: and one labels: block", name)
		}
		block = forRe.ReplaceAllString(block, "$1 0s")
		block = strings.Replace(block, "        labels:\n", "        labels:\n          forced: \"true\"\n", 1)
		out += sep + block
	}
	for name := range forcedAlerts {
		if !seen[name] {
			t.Errorf("forcedAlerts has %s, which alerts.yml does not define", name)
		}
	}
	return out
}

type rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Rules []rule `json:"rules"`
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p *promServer) rules() ([]ruleGroup, error) {
	var data struct {
		Groups []ruleGroup `json:"groups"`
	}
	err := p.get("/api/v1/rules", nil, &data)
	return data.Groups, err
}

func (p *promServer) alerts() ([]alert, error) {
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// findAlert returns the state of the first alert named name whose labels
// include want, and whether it is a forced one.
func findAlert(as []alert, name string, forced bool, want map[string]string) string {
	for _, a := range as {
		if a.Labels["alertname"] != name || (a.Labels["forced"] == "true") != forced {
			continue
		}
		match := true
		for k, v := range want {
			match = match && a.Labels[k] == v
		}
		if match {
			return a.State
		}
	}
	return ""
}

func checkAlerts(t *testing.T, p *promServer) {
	src := readFile(t, "prometheus/alerts.yml")
	names := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(src, -1)
	if len(names) == 0 {
		t.Fatal("alerts.yml defines no alerts")
	}

	// Every rule of alerts.yml is loaded and evaluates without error.
	p.eventually(t, 15*time.Second, "alert rules evaluated", func() error {
		groups, err := p.rules()
		if err != nil {
			return err
		}
		var got []string
		for _, g := range groups {
			if g.Name != "gale" {
				continue
			}
			for _, r := range g.Rules {
				if r.Type != "alerting" || r.Health != "ok" || r.LastError != "" {
					return fmt.Errorf("rule %s: type %s health %s error %q", r.Name, r.Type, r.Health, r.LastError)
				}
				got = append(got, r.Name)
			}
		}
		for _, n := range names {
			if !slices.Contains(got, n[1]) {
				return fmt.Errorf("rule %s not loaded (loaded: %v)", n[1], got)
			}
		}
		return nil
	})

	// The conditions that are really true here are detected by the real
	// rules, unchanged.
	for name, f := range forcedAlerts {
		if len(f.replace) > 0 {
			continue
		}
		p.eventually(t, 15*time.Second, name+" pending under alerts.yml", func() error {
			as, err := p.alerts()
			if err != nil {
				return err
			}
			// Pending until `for` passes; firing on a machine slow enough
			// that it did.
			if st := findAlert(as, name, false, f.want); st != "pending" && st != "firing" {
				return fmt.Errorf("%s %v: state %q, want pending", name, f.want, st)
			}
			return nil
		})
	}

	// The forced rules all fire.
	forced := forcedRules(t, src)
	if t.Failed() {
		return
	}
	writeFile(t, p.dir+"/forced.yml", forced)
	p.reload(t)
	for name, f := range forcedAlerts {
		p.eventually(t, 20*time.Second, name+" firing when forced", func() error {
			as, err := p.alerts()
			if err != nil {
				return err
			}
			if st := findAlert(as, name, true, f.want); st != "firing" {
				return fmt.Errorf("forced %s %v: state %q, want firing", name, f.want, st)
			}
			return nil
		})
	}
	t.Logf("%d alerts parsed, evaluated and fired when forced", len(names))
}
