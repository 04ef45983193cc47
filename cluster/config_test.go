package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Insecure: true}.WithDefaults()
	if c.NodeID == "" || c.BindAddr != DefaultBindAddr || c.Slots != DefaultSlots || c.Version != DefaultVersion ||
		c.ClusterLabel != DefaultClusterLabel || c.Logger == nil || c.ReconcileInterval != DefaultReconcileInterval || c.SettleTime != DefaultSettleTime {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults with Insecure: %v", err)
	}
	if c := (Config{NoWorkers: true, Insecure: true}).WithDefaults(); c.Slots != 0 {
		t.Fatalf("NoWorkers: Slots = %d", c.Slots)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{GossipKey: testKey}.WithDefaults()
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		wants []string // substrings, one per expected problem
	}{
		{"valid", func(*Config) {}, nil},
		{"insecure without key", func(c *Config) { c.GossipKey = nil; c.Insecure = true }, nil},
		{"no key", func(c *Config) { c.GossipKey = nil }, []string{"GossipKey is required"}},
		{"short key", func(c *Config) { c.GossipKey = []byte("short") }, []string{"GossipKey"}},
		{"bad extra key", func(c *Config) { c.ExtraGossipKeys = [][]byte{[]byte("x")} }, []string{"ExtraGossipKeys[0]"}},
		{"every problem at once", func(c *Config) {
			c.NodeID = ""
			c.BindAddr = "nowhere"
			c.Seeds = []string{"also-nowhere"}
			c.Slots = -1
			c.GossipKey = nil
			c.ClusterLabel = strings.Repeat("x", 300)
		}, []string{"NodeID", "BindAddr", "seed", "Slots", "ClusterLabel", "GossipKey"}},
		{"host name bind", func(c *Config) { c.BindAddr = "localhost:0" }, []string{"not an IP"}},
		{"huge metadata", func(c *Config) { c.APIAddr = strings.Repeat("a", 600) }, []string{"metadata"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q: %v", w, err)
				}
			}
		})
	}
}

func TestStartRefusesInvalidConfig(t *testing.T) {
	_, err := Start(context.Background(), Config{NodeID: "x"})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Insecure") {
		t.Fatalf("Start without a key = %v, want ErrInvalidConfig naming Insecure", err)
	}
}
