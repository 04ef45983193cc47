package kafkasink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/promreg"
)

// sinkMetrics are shared by all sink tasks that use one Registerer.
type sinkMetrics struct {
	written      *prometheus.CounterVec
	writtenBytes *prometheus.CounterVec
	failed       *prometheus.CounterVec
	encodeErrors *prometheus.CounterVec
	writeDur     *prometheus.HistogramVec
	batchSize    *prometheus.HistogramVec
	// writers exports kafka-go's own Writer.Stats() at scrape time.
	writers *writerStats
}

// taskMetrics are one task's resolved series.
type taskMetrics struct {
	written, writtenBytes, failed, encodeErrors prometheus.Counter
	writeDur, batchSize                         prometheus.Observer
}

var labels = []string{"topology", "component"}

func (m *sinkMetrics) forTask(topo, component string) *taskMetrics {
	return &taskMetrics{
		written:      m.written.WithLabelValues(topo, component),
		writtenBytes: m.writtenBytes.WithLabelValues(topo, component),
		failed:       m.failed.WithLabelValues(topo, component),
		encodeErrors: m.encodeErrors.WithLabelValues(topo, component),
		writeDur:     m.writeDur.WithLabelValues(topo, component),
		batchSize:    m.batchSize.WithLabelValues(topo, component),
	}
}

func newMetrics() *sinkMetrics {
	return &sinkMetrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "producer_records_total",
			Help: "Records the brokers acknowledged.",
		}, labels),
		writtenBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "producer_bytes_total",
			Help: "Key and value bytes of the records the brokers acknowledged.",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "producer_failed_records_total",
			Help: "Records whose write failed (their tuples were failed).",
		}, labels),
		encodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "producer_encode_errors_total",
			Help: "Tuples that could not be turned into records.",
		}, labels),
		writeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "producer_write_duration_seconds",
			Help:    "Latency of a batch write, until the brokers acknowledged it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, labels),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gale", Subsystem: "kafka", Name: "producer_batch_records",
			Help:    "Records per batch write.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}, labels),
		writers: newWriterStats(),
	}
}

// metricsFor returns the metrics registered with reg, registering them on
// first use and reusing collectors already registered under the same names.
func metricsFor(reg prometheus.Registerer) (*sinkMetrics, error) {
	if reg == nil {
		return newMetrics(), nil
	}
	return promreg.Shared(reg, registerMetrics)
}

func registerMetrics(reg prometheus.Registerer) (*sinkMetrics, error) {
	m := newMetrics()
	var err error
	m.written = promreg.Register(reg, m.written, &err)
	m.writtenBytes = promreg.Register(reg, m.writtenBytes, &err)
	m.failed = promreg.Register(reg, m.failed, &err)
	m.encodeErrors = promreg.Register(reg, m.encodeErrors, &err)
	m.writeDur = promreg.Register(reg, m.writeDur, &err)
	m.batchSize = promreg.Register(reg, m.batchSize, &err)
	m.writers = promreg.Register(reg, m.writers, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}
