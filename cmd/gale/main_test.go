package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestEnvironmentVariablesSetFlags(t *testing.T) {
	t.Setenv("GALE_DURATION", "bogus")
	root := newRoot()
	root.SetArgs([]string{"dev"})
	var out bytes.Buffer
	root.SetOut(&out)
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "GALE_DURATION") {
		t.Fatalf("a bad GALE_DURATION gave %v, want an error naming it", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	root := newRoot()
	root.SetArgs([]string{"frobnicate"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("got %v, want an unknown command error", err)
	}
}
