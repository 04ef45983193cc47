package supervisor

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg      prometheus.Registerer
	restarts *prometheus.CounterVec
	running  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gale_cluster_worker_restarts_total",
			Help: "Worker processes restarted after they exited.",
		}, []string{"topology"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gale_cluster_workers_running",
			Help: "Worker processes running on this node.",
		}, []string{"topology"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.restarts); err != nil {
		return nil, errors.Join(errors.New("supervisor: register metrics"), err)
	}
	if err := reg.Register(m.running); err != nil {
		reg.Unregister(m.restarts)
		return nil, errors.Join(errors.New("supervisor: register metrics"), err)
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.restarts)
		m.reg.Unregister(m.running)
	}
}
