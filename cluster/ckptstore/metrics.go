package ckptstore

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	replicaWrites   *prometheus.CounterVec
	replicatedBytes prometheus.Counter
	fetches         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		replicaWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gale_ckptstore_replica_writes_total",
			Help: "Checkpoint files and manifests written to a peer node, by result.",
		}, []string{"status"}),
		replicatedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gale_ckptstore_replicated_bytes_total",
			Help: "Bytes of checkpoint files and manifests written to peer nodes.",
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gale_ckptstore_peer_fetches_total",
			Help: "Checkpoint objects this node lacked and looked for on its peers, by result (ok, not_found, error).",
		}, []string{"status"}),
	}
	if reg == nil {
		return m, nil
	}
	var registered []prometheus.Collector
	for _, c := range []prometheus.Collector{m.replicaWrites, m.replicatedBytes, m.fetches} {
		if err := reg.Register(c); err != nil {
			for _, r := range registered {
				reg.Unregister(r)
			}
			return nil, errors.Join(errors.New("ckptstore: register metrics"), err)
		}
		registered = append(registered, c)
	}
	return m, nil
}
