package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterReusesTheRegisteredCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	var err error
	a := Register(reg, prometheus.NewCounter(opts), &err)
	b := Register(reg, prometheus.NewCounter(opts), &err)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the second registration did not return the first collector")
	}
	Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "x"}), &err)
	if err == nil {
		t.Error("a gauge under a counter's name was accepted")
	}
}

func TestSharedMakesOncePerRegistry(t *testing.T) {
	type set struct{ n int }
	calls := 0
	make := func(prometheus.Registerer) (*set, error) { calls++; return &set{calls}, nil }
	a, b := prometheus.NewRegistry(), prometheus.NewRegistry()
	x, _ := Shared(a, make)
	y, _ := Shared(a, make)
	z, _ := Shared(b, make)
	if x != y || x == z || calls != 2 {
		t.Errorf("got %p %p %p after %d calls; want one value per registry", x, y, z, calls)
	}
}
