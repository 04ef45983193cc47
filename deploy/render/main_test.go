package main

import (
	"testing"
	"time"
)

func TestSubstitute(t *testing.T) {
	got := substitute(`rate(x{topology=~"$topology",component=~"${component}"}[$__rate_interval])`,
		map[string]string{"topology": "clicks"}, 5*time.Second)
	want := `rate(x{topology=~"clicks",component=~".*"}[20s])`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestLegend(t *testing.T) {
	if got := legend("{{component}} / {{task}}", `{"component":"split","task":"3"}`); got != "split / 3" {
		t.Errorf("legend = %q", got)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{1500, "ops", "1.5 K/s"},
		{0.0042, "s", "4.2 ms"},
		{0.25, "percentunit", "25.0%"},
		{3, "short", "3"},
	} {
		if got := format(c.v, c.unit); got != c.want {
			t.Errorf("format(%v, %s) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}
