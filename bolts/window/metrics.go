package window

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// registererProvider is what the runtime offers in topology.Context.Services
// when it exports metrics.
type registererProvider interface {
	Registerer() prometheus.Registerer
}

// taskMetrics are one task's resolved series; nil counters when the config
// has no Registerer.
type taskMetrics struct {
	fired, late prometheus.Counter
}

var metricLabels = []string{"topology", "component", "task"}

func newTaskMetrics(reg prometheus.Registerer, topo, component string, task int) (*taskMetrics, error) {
	if reg == nil {
		return &taskMetrics{}, nil
	}
	fired, err := registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "gale", Subsystem: "window", Name: "fired_total",
		Help: "Window results emitted, re-firings of late-updated windows included.",
	})
	if err != nil {
		return nil, err
	}
	late, err := registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "gale", Subsystem: "window", Name: "late_tuples_total",
		Help: "Tuples that arrived after every window they belong to was purged, sent to the late stream.",
	})
	if err != nil {
		return nil, err
	}
	t := strconv.Itoa(task)
	return &taskMetrics{
		fired: fired.WithLabelValues(topo, component, t),
		late:  late.WithLabelValues(topo, component, t),
	}, nil
}

// registerCounterVec registers a counter vector, or returns the one another
// task of the process already registered.
func registerCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts) (*prometheus.CounterVec, error) {
	v := prometheus.NewCounterVec(opts, metricLabels)
	if err := reg.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return v, nil
}

func (m *taskMetrics) incFired() {
	if m.fired != nil {
		m.fired.Inc()
	}
}

func (m *taskMetrics) incLate() {
	if m.late != nil {
		m.late.Inc()
	}
}
