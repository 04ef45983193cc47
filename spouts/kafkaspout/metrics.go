package kafkaspout

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/promreg"
)

// RegistererProvider is what the spout looks for in
// topology.Context.Services when [Config.Registerer] is nil: a runtime that
// offers it gets the spout's metrics on its own registry.
type RegistererProvider interface {
	Registerer() prometheus.Registerer
}

// registererFor returns the registerer the metrics go to.
func registererFor(cfg prometheus.Registerer, services any) prometheus.Registerer {
	if cfg != nil {
		return cfg
	}
	if p, ok := services.(RegistererProvider); ok {
		return p.Registerer()
	}
	return nil
}

// metrics are the spout's metric vectors. All tasks (of all Kafka spouts)
// that share a Registerer share one metrics value: see [metricsFor].
type metrics struct {
	lag          *prometheus.GaugeVec
	committedLag *prometheus.GaugeVec
	lagSeconds   *prometheus.GaugeVec
	records      *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	fetchErrors  *prometheus.CounterVec
	retries      *prometheus.CounterVec
	givenUp      *prometheus.CounterVec
	commitDur    *prometheus.HistogramVec
	commitErrors *prometheus.CounterVec
}

var partLabels = []string{"topology", "topic", "partition"}

func newMetrics() *metrics {
	return &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_lag",
			Help: "Records between the partition's high watermark and the next offset the spout emits.",
		}, partLabels),
		committedLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_committed_lag",
			Help: "Records between the partition's high watermark and the group's committed offset.",
		}, partLabels),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_lag_seconds",
			Help: "Age of the oldest fetched record not yet fully processed (0 when caught up).",
		}, partLabels),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_fetched_records_total",
			Help: "Records fetched from the partition.",
		}, partLabels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_fetched_bytes_total",
			Help: "Key, value and header bytes fetched from the partition.",
		}, partLabels),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_fetch_errors_total",
			Help: "Failed fetches and offset lookups of the partition.",
		}, partLabels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_retries_total",
			Help: "Records replayed after their tuple failed.",
		}, partLabels),
		givenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_given_up_records_total",
			Help: "Records that kept failing and were skipped or sent to the dead-letter topic.",
		}, append(partLabels, "policy")),
		commitDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_commit_duration_seconds",
			Help:    "Latency of offset commits to the consumer group.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"topology"}),
		commitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "consumer_commit_errors_total",
			Help: "Failed offset commits.",
		}, []string{"topology"}),
	}
}

// metricsFor returns the metrics registered with reg, registering them on
// first use. A collector someone else registered under the same name is
// reused (prometheus.AlreadyRegisteredError), so independent spout instances
// never fail on a shared registry. A nil reg gives unregistered metrics.
func metricsFor(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return newMetrics(), nil
	}
	return promreg.Shared(reg, registerMetrics)
}

func registerMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := newMetrics()
	var err error
	m.lag = promreg.Register(reg, m.lag, &err)
	m.committedLag = promreg.Register(reg, m.committedLag, &err)
	m.lagSeconds = promreg.Register(reg, m.lagSeconds, &err)
	m.records = promreg.Register(reg, m.records, &err)
	m.bytes = promreg.Register(reg, m.bytes, &err)
	m.fetchErrors = promreg.Register(reg, m.fetchErrors, &err)
	m.retries = promreg.Register(reg, m.retries, &err)
	m.givenUp = promreg.Register(reg, m.givenUp, &err)
	m.commitDur = promreg.Register(reg, m.commitDur, &err)
	m.commitErrors = promreg.Register(reg, m.commitErrors, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// partMetrics are one partition's resolved metric children.
type partMetrics struct {
	lag, committedLag, lagSeconds prometheus.Gauge
	records, bytes, fetchErrors   prometheus.Counter
	retries                       prometheus.Counter
	skipped, deadLettered         prometheus.Counter
}

func (m *metrics) forPartition(topo string, tp topicPartition) *partMetrics {
	l := []string{topo, tp.Topic, strconv.Itoa(int(tp.Partition))}
	return &partMetrics{
		lag:          m.lag.WithLabelValues(l...),
		committedLag: m.committedLag.WithLabelValues(l...),
		lagSeconds:   m.lagSeconds.WithLabelValues(l...),
		records:      m.records.WithLabelValues(l...),
		bytes:        m.bytes.WithLabelValues(l...),
		fetchErrors:  m.fetchErrors.WithLabelValues(l...),
		retries:      m.retries.WithLabelValues(l...),
		skipped:      m.givenUp.WithLabelValues(append(l, "skip")...),
		deadLettered: m.givenUp.WithLabelValues(append(l, "dead-letter")...),
	}
}

// dropPartition removes the partition's series when another task takes it
// over, so it is reported once.
func (m *metrics) dropPartition(topo string, tp topicPartition) {
	l := prometheus.Labels{"topology": topo, "topic": tp.Topic, "partition": strconv.Itoa(int(tp.Partition))}
	m.lag.Delete(l)
	m.committedLag.Delete(l)
	m.lagSeconds.Delete(l)
}
