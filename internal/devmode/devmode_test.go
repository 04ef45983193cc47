package devmode

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/internal/kafkatest"
)

// TestDevRunsTheClickTopology runs gale dev against a broker of the test's
// own, so that it can read the windowed counts back from the output topic
// after the run.
func TestDevRunsTheClickTopology(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"clicks": 4, "page-counts": 1}})
	var out bytes.Buffer
	err := Run(context.Background(), Config{
		Brokers:     kc.Addrs(),
		MetricsAddr: "127.0.0.1:0",
		Window:      time.Second,
		Duration:    6 * time.Second,
		Rate:        500,
		Logger:      slog.New(slog.DiscardHandler),
	}, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "produced "); n < 4 {
		t.Errorf("printed %d live lines in 6 seconds, want at least 4", n)
	}
	recs, err := kc.Consume(context.Background(), "page-counts")
	if err != nil {
		t.Fatal(err)
	}
	var results, clicks int64
	for _, rs := range recs {
		for _, r := range rs {
			var v struct {
				Page  string `json:"page"`
				Count int64  `json:"count"`
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("output record %q: %v", r.Value, err)
			}
			if !slices.Contains(pages, v.Page) || v.Count < 1 || string(r.Key) != v.Page {
				t.Errorf("output record %s (key %q) is not a page count", r.Value, r.Key)
			}
			results++
			clicks += v.Count
		}
	}
	if results == 0 {
		t.Fatal("no window result reached the output topic")
	}
	// 6 s at 500 clicks/s, of which the windows still open at the end are
	// not counted yet.
	if clicks > 3000 || clicks < 500 {
		t.Errorf("window results count %d clicks, want between 500 and 3000", clicks)
	}
}
