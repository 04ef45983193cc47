// Command render draws a gale Grafana dashboard (deploy/grafana/dashboards)
// as a static HTML page from a live Prometheus, with every panel's queries
// evaluated over a time range. It is how the README's dashboard screenshots
// are made where no Grafana server can run: the panels, queries, legends
// and layout are the dashboard's own; only the drawing is this program's.
//
//	go run ./deploy/render -prometheus http://127.0.0.1:9090 \
//	    -dashboard deploy/grafana/dashboards/overview.json -out overview.html
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type dashboard struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type    string                   `json:"type"`
	Title   string                   `json:"title"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type series struct {
	name   string
	points [][2]float64 // unix seconds, value
}

type varFlags map[string]string

func (v varFlags) String() string { return fmt.Sprint(map[string]string(v)) }
func (v varFlags) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=value, got %q", s)
	}
	v[k] = val
	return nil
}

func main() {
	prom := flag.String("prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
	path := flag.String("dashboard", "", "dashboard JSON file")
	out := flag.String("out", "dashboard.html", "HTML file to write")
	rng := flag.Duration("range", 10*time.Minute, "time range drawn, ending now")
	step := flag.Duration("step", 5*time.Second, "query resolution")
	vars := varFlags{}
	flag.Var(vars, "var", "template variable value, name=value (repeatable; default .* for all)")
	flag.Parse()
	if err := run(*prom, *path, *out, *rng, *step, vars); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(prom, path, out string, rng, step time.Duration, vars map[string]string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	end := time.Now()
	start := end.Add(-rng)
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title><style>
body{background:#111217;color:#ccccdc;font:13px sans-serif;margin:12px}
h1{font-size:18px;font-weight:500;margin:4px 0 10px}
.grid{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:30px;gap:6px}
.p{background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:6px;overflow:hidden}
.t{font-weight:500;margin-bottom:4px}.stat{font-size:34px;color:#73bf69;margin-top:6px}
.row{font-size:15px;font-weight:500;padding-top:8px}.lg{font-size:11px;line-height:14px}
</style></head><body><h1>%s</h1><div class="grid">`, html.EscapeString(d.Title), html.EscapeString(d.Title))
	for _, p := range d.Panels {
		g := p.GridPos
		style := fmt.Sprintf("grid-column:%d/span %d;grid-row:%d/span %d", g.X+1, max(g.W, 1), g.Y+1, max(g.H, 1))
		if p.Type == "row" {
			fmt.Fprintf(&b, `<div class="row" style="%s">%s</div>`, style, html.EscapeString(p.Title))
			continue
		}
		var all []series
		for _, t := range p.Targets {
			ss, err := queryRange(prom, substitute(t.Expr, vars, step), start, end, step)
			if err != nil {
				return fmt.Errorf("panel %q: %w", p.Title, err)
			}
			for _, s := range ss {
				s.name = legend(t.LegendFormat, s.name)
				all = append(all, s)
			}
		}
		fmt.Fprintf(&b, `<div class="p" style="%s"><div class="t">%s</div>`, style, html.EscapeString(p.Title))
		if p.Type == "stat" || p.Type == "gauge" {
			fmt.Fprintf(&b, `<div class="stat">%s</div>`, statValue(all, p.FieldConfig.Defaults.Unit))
		} else {
			b.WriteString(chart(all, g.W, g.H, start, end, p.FieldConfig.Defaults.Unit))
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div></body></html>`)
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// substitute replaces Grafana's variables: template variables by the given
// value (".*", every value, by default), and the interval macros.
func substitute(expr string, vars map[string]string, step time.Duration) string {
	return varRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		switch name {
		case "__rate_interval":
			return (4 * step).String()
		case "__interval", "__range":
			return step.String()
		}
		if v, ok := vars[name]; ok {
			return v
		}
		return ".*"
	})
}

func queryRange(prom, expr string, start, end time.Time, step time.Duration) ([]series, error) {
	q := url.Values{"query": {expr}, "start": {strconv.FormatInt(start.Unix(), 10)},
		"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	resp, err := http.Get(prom + "/api/v1/query_range?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", expr, r.Error)
	}
	var out []series
	for _, res := range r.Data.Result {
		labels, _ := json.Marshal(res.Metric)
		s := series{name: string(labels)}
		for _, v := range res.Values {
			t, _ := v[0].(float64)
			f, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				s.points = append(s.points, [2]float64{t, f})
			}
		}
		out = append(out, s)
	}
	return out, nil
}

var legendRef = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legend applies a legendFormat to a series named by its labels' JSON.
func legend(format, labelsJSON string) string {
	var labels map[string]string
	_ = json.Unmarshal([]byte(labelsJSON), &labels)
	if format == "" {
		return labelsJSON
	}
	return legendRef.ReplaceAllStringFunc(format, func(m string) string {
		return labels[legendRef.FindStringSubmatch(m)[1]]
	})
}

func statValue(all []series, unit string) string {
	var v float64
	found := false
	for _, s := range all {
		if n := len(s.points); n > 0 {
			v += s.points[n-1][1]
			found = true
		}
	}
	if !found {
		return "No data"
	}
	return format(v, unit)
}

func format(v float64, unit string) string {
	suffix := ""
	switch unit {
	case "s":
		switch {
		case v == 0:
			return "0 s"
		case v < 1e-3:
			return fmt.Sprintf("%.0f µs", v*1e6)
		case v < 1:
			return fmt.Sprintf("%.1f ms", v*1e3)
		}
		suffix = " s"
	case "ops", "reqps":
		suffix = "/s"
	case "percentunit":
		return fmt.Sprintf("%.1f%%", v*100)
	case "bytes", "decbytes":
		suffix = " B"
	}
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.2f M%s", v/1e6, suffix)
	case a >= 1e3:
		return fmt.Sprintf("%.1f K%s", v/1e3, suffix)
	case a >= 10 || a == 0:
		return fmt.Sprintf("%.0f%s", v, suffix)
	}
	return fmt.Sprintf("%.3g%s", v, suffix)
}

var palette = []string{"#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a"}

// chart draws the series as an SVG line chart sized by the panel's grid
// position, with the value axis from 0 (or the minimum) to the maximum.
func chart(all []series, w, h int, start, end time.Time, unit string) string {
	width, height := float64(w)*55, float64(h)*30-50
	lo, hi := 0.0, 0.0
	for _, s := range all {
		for _, p := range s.points {
			lo, hi = min(lo, p[1]), max(hi, p[1])
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	t0, t1 := float64(start.Unix()), float64(end.Unix())
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="100%%" height="%.0f" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none">`, height*0.75, width, height)
	fmt.Fprintf(&b, `<text x="2" y="10" fill="#8e8e8e" font-size="10">%s</text><text x="2" y="%.0f" fill="#8e8e8e" font-size="10">%s</text>`,
		format(hi, unit), height-2, format(lo, unit))
	names := make([]string, 0, len(all))
	for i, s := range all {
		if len(s.points) == 0 {
			continue
		}
		var pts []string
		for _, p := range s.points {
			x := (p[0] - t0) / (t1 - t0) * width
			y := height - (p[1]-lo)/(hi-lo)*(height-12) - 2
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		c := palette[i%len(palette)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, c, strings.Join(pts, " "))
		names = append(names, fmt.Sprintf(`<span style="color:%s">■</span> %s`, c, html.EscapeString(s.name)))
	}
	b.WriteString(`</svg>`)
	if len(names) == 0 {
		return `<div>No data</div>`
	}
	slices.Sort(names)
	if len(names) > 6 {
		names = append(names[:6], fmt.Sprintf("… %d more", len(names)-6))
	}
	b.WriteString(`<div class="lg">` + strings.Join(names, " &nbsp; ") + `</div>`)
	return b.String()
}
