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
