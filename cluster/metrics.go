package cluster

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg           prometheus.Registerer
	members       *prometheus.GaugeVec
	epoch         prometheus.Gauge
	isCoordinator prometheus.Gauge
	dropped       prometheus.Counter
	collectors    []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gale_cluster_members",
			Help: "Cluster members this node knows, by gossip state.",
		}, []string{"state"}),
		epoch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gale_cluster_assignment_epoch",
			Help: "Epoch of the newest assignment this node knows.",
		}),
		isCoordinator: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gale_cluster_is_coordinator",
			Help: "1 if this node coordinates the cluster, else 0.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gale_cluster_gossip_messages_dropped_total",
			Help: "Gossip messages dropped because the node's inbox was full; push-pull repairs what they carried.",
		}),
	}
	for _, s := range []MemberState{MemberAlive, MemberSuspect, MemberDead, MemberLeft} {
		m.members.WithLabelValues(s.String())
	}
	m.collectors = []prometheus.Collector{m.members, m.epoch, m.isCoordinator, m.dropped}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return nil, errors.Join(errors.New("cluster: register metrics"), err)
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
