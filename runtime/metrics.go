package runtime

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/internal/promreg"
	"github.com/gale-stream/gale/topology"
)

// metrics holds the runtime's collectors for one topology. Children are
// resolved once per task when its executor starts, never per tuple.
type metrics struct {
	emitted      *prometheus.CounterVec   // component, task, stream
	transferred  *prometheus.CounterVec   // component, task, stream
	executed     *prometheus.CounterVec   // component, task, source, stream
	acked        *prometheus.CounterVec   // component, task (bolt acks of inputs)
	failed       *prometheus.CounterVec   // component, task (bolt fails of inputs)
	spoutAcked   *prometheus.CounterVec   // component, task
	spoutFailed  *prometheus.CounterVec   // component, task
	timedOut     *prometheus.CounterVec   // component, task
	panics       *prometheus.CounterVec   // component, task
	errors       *prometheus.CounterVec   // component, task
	execLatency  *prometheus.HistogramVec // component, task
	complete     *prometheus.HistogramVec // component, task
	queueDepth   *prometheus.GaugeVec     // component, task
	queueCap     *prometheus.GaugeVec     // component, task
	pending      *prometheus.GaugeVec     // component, task
	busy         *prometheus.CounterVec   // component, task
	backpressure *prometheus.CounterVec   // component, task
	ackerPending *prometheus.GaugeVec     // task
}

// latencyBuckets span 1µs to about 10s: execute latencies of simple bolts sit
// at the bottom, complete latencies of deep trees near the top.
var latencyBuckets = prometheus.ExponentialBuckets(1e-6, 4, 12)

func newMetrics(reg prometheus.Registerer, topo string) (*metrics, error) {
	ct := []string{"component", "task"}
	cts := []string{"component", "task", "stream"}
	m := &metrics{
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "emitted_tuples_total",
			Help: "Tuples emitted by a task, per output stream.",
		}, cts),
		transferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "transferred_tuples_total",
			Help: "Tuples sent to receiving tasks: emitted tuples times the tasks each went to.",
		}, cts),
		executed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "executed_tuples_total",
			Help: "Tuples a bolt task executed, per source component and stream.",
		}, []string{"component", "task", "source", "stream"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "acked_tuples_total",
			Help: "Input tuples a bolt task acked.",
		}, ct),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "failed_tuples_total",
			Help: "Input tuples a bolt task failed, explicitly, by error or by panic.",
		}, ct),
		spoutAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "spout", Name: "acked_tuples_total",
			Help: "Spout tuple trees that completed.",
		}, ct),
		spoutFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "spout", Name: "failed_tuples_total",
			Help: "Spout tuple trees that failed, including by timeout.",
		}, ct),
		timedOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "spout", Name: "timed_out_tuples_total",
			Help: "Spout tuple trees that failed because they did not complete within the message timeout.",
		}, ct),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "panics_total",
			Help: "Panics recovered from user code.",
		}, ct),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "errors_total",
			Help: "Errors returned or reported by user code.",
		}, ct),
		execLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gale", Subsystem: "executor", Name: "execute_duration_seconds",
			Help: "Time a bolt task spent in Execute per tuple, sampled for one tuple of each batch.", Buckets: latencyBuckets,
		}, ct),
		complete: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gale", Subsystem: "spout", Name: "complete_duration_seconds",
			Help: "Time from a spout tuple's emit to the completion of its tree.", Buckets: latencyBuckets,
		}, ct),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "executor", Name: "queue_tuples",
			Help: "Tuples waiting in a task's inbound queue.",
		}, ct),
		queueCap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "executor", Name: "queue_capacity_tuples",
			Help: "Capacity of a task's inbound queue, in tuples.",
		}, ct),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "spout", Name: "pending_tuples",
			Help: "Tracked spout tuples in flight.",
		}, ct),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "busy_seconds_total",
			Help: "Time a task spent executing tuples; its rate is the task's capacity use.",
		}, ct),
		backpressure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gale", Subsystem: "executor", Name: "backpressure_seconds_total",
			Help: "Time a task spent blocked on full downstream queues.",
		}, ct),
		ackerPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gale", Subsystem: "acker", Name: "pending_roots",
			Help: "Tuple trees an acker task is tracking.",
		}, []string{"task"}),
	}
	if reg == nil {
		return m, nil
	}
	// A topology restarted in this process (see Run) registers again: the
	// collectors of the previous attempt are reused.
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"topology": topo}, reg)
	var err error
	m.emitted = promreg.Register(reg, m.emitted, &err)
	m.transferred = promreg.Register(reg, m.transferred, &err)
	m.executed = promreg.Register(reg, m.executed, &err)
	m.acked = promreg.Register(reg, m.acked, &err)
	m.failed = promreg.Register(reg, m.failed, &err)
	m.spoutAcked = promreg.Register(reg, m.spoutAcked, &err)
	m.spoutFailed = promreg.Register(reg, m.spoutFailed, &err)
	m.timedOut = promreg.Register(reg, m.timedOut, &err)
	m.panics = promreg.Register(reg, m.panics, &err)
	m.errors = promreg.Register(reg, m.errors, &err)
	m.execLatency = promreg.Register(reg, m.execLatency, &err)
	m.complete = promreg.Register(reg, m.complete, &err)
	m.queueDepth = promreg.Register(reg, m.queueDepth, &err)
	m.queueCap = promreg.Register(reg, m.queueCap, &err)
	m.pending = promreg.Register(reg, m.pending, &err)
	m.busy = promreg.Register(reg, m.busy, &err)
	m.backpressure = promreg.Register(reg, m.backpressure, &err)
	m.ackerPending = promreg.Register(reg, m.ackerPending, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// taskMetrics are one task's resolved children.
type taskMetrics struct {
	acked, failed, panics, errors prometheus.Counter
	spoutAcked, spoutFailed       prometheus.Counter
	timedOut                      prometheus.Counter
	busy, backpressure            prometheus.Counter
	execLatency, complete         prometheus.Observer
	queueDepth, pending           prometheus.Gauge
}

func (m *metrics) task(c topology.ComponentID, task topology.TaskID, kind topology.ComponentKind, queueCap int) *taskMetrics {
	l := prometheus.Labels{"component": string(c), "task": strconv.Itoa(int(task))}
	tm := &taskMetrics{
		panics:       m.panics.With(l),
		errors:       m.errors.With(l),
		busy:         m.busy.With(l),
		backpressure: m.backpressure.With(l),
	}
	if kind == topology.KindSpout {
		tm.spoutAcked = m.spoutAcked.With(l)
		tm.spoutFailed = m.spoutFailed.With(l)
		tm.timedOut = m.timedOut.With(l)
		tm.complete = m.complete.With(l)
		tm.pending = m.pending.With(l)
	} else {
		tm.acked = m.acked.With(l)
		tm.failed = m.failed.With(l)
		tm.execLatency = m.execLatency.With(l)
		tm.queueDepth = m.queueDepth.With(l)
		m.queueCap.With(l).Set(float64(queueCap))
	}
	return tm
}
