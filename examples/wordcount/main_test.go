package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gale-stream/gale/topology"
)

func TestWordCountCountsEveryWord(t *testing.T) {
	for _, g := range []topology.Guarantee{topology.AtMostOnce, topology.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			var out bytes.Buffer
			cfg := config{sentences: 5000, words: 10, spouts: 2, split: 2, count: 3, guarantee: g, seed: 7, top: 5}
			if err := run(context.Background(), cfg, &out, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "check: total 100000 = 5000 sentences × 10 words × 2 spout tasks") {
				t.Errorf("output lacks the total check:\n%s", out.String())
			}
		})
	}
}
