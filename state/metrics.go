package state

import (
	"github.com/gale-stream/gale/internal/promreg"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's own metrics. Backend counters are labelled by
// topology and component, resolved once when the Backend is created.
type metrics struct {
	checkpointDuration prometheus.Histogram
	checkpointBytes    prometheus.Gauge
	checkpointUploaded prometheus.Counter
	checkpointFailures prometheus.Counter
	checkpointID       prometheus.Gauge
	checkpointTime     prometheus.Gauge
	restoreDuration    prometheus.Histogram
	restoreBytes       prometheus.Counter
	writeBytes         *prometheus.CounterVec
	cacheHits          *prometheus.CounterVec
	cacheMisses        *prometheus.CounterVec

	reg    prometheus.Registerer
	pebble *pebbleCollector
}

func newMetrics(reg prometheus.Registerer, db *pebble.DB) (*metrics, error) {
	const ns, sub = "gale", "state"
	m := &metrics{
		checkpointDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "checkpoint_duration_seconds",
			Help:    "Time to take a checkpoint and copy it to storage.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		checkpointBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "checkpoint_size_bytes",
			Help: "Total size of the files of the last complete checkpoint.",
		}),
		checkpointUploaded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "checkpoint_uploaded_bytes_total",
			Help: "Bytes copied to checkpoint storage (files storage did not have yet).",
		}),
		checkpointFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "checkpoint_failures_total",
			Help: "Checkpoints that returned an error.",
		}),
		checkpointID: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "checkpoint_last_id",
			Help: "Id of the last complete checkpoint written by this store.",
		}),
		checkpointTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "checkpoint_last_timestamp_seconds",
			Help: "Unix time of the last complete checkpoint; time() minus it is the checkpoint age.",
		}),
		restoreDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "restore_duration_seconds",
			Help:    "Time to restore scopes from checkpoints.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		restoreBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "restore_bytes_total",
			Help: "Bytes of keys and values written by restores.",
		}),
		writeBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "write_bytes_total",
			Help: "Bytes of keys and values flushed from task caches to Pebble.",
		}, []string{"topology", "component"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cache_hits_total",
			Help: "State reads served by a task's write-back cache.",
		}, []string{"topology", "component"}),
		cacheMisses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cache_misses_total",
			Help: "State reads that went to Pebble.",
		}, []string{"topology", "component"}),
	}
	if reg == nil {
		return m, nil
	}
	// A store reopened in the same process (a topology restarted by its
	// runtime) reuses the collectors registered by the previous one.
	var err error
	m.checkpointDuration = promreg.Register(reg, m.checkpointDuration, &err)
	m.checkpointBytes = promreg.Register(reg, m.checkpointBytes, &err)
	m.checkpointUploaded = promreg.Register(reg, m.checkpointUploaded, &err)
	m.checkpointFailures = promreg.Register(reg, m.checkpointFailures, &err)
	m.checkpointID = promreg.Register(reg, m.checkpointID, &err)
	m.checkpointTime = promreg.Register(reg, m.checkpointTime, &err)
	m.restoreDuration = promreg.Register(reg, m.restoreDuration, &err)
	m.restoreBytes = promreg.Register(reg, m.restoreBytes, &err)
	m.writeBytes = promreg.Register(reg, m.writeBytes, &err)
	m.cacheHits = promreg.Register(reg, m.cacheHits, &err)
	m.cacheMisses = promreg.Register(reg, m.cacheMisses, &err)
	if err != nil {
		return nil, err
	}
	// Pebble's own figures are read from this store's database, so the
	// collector belongs to this store: it is unregistered when the store
	// closes (see unregister).
	m.pebble = newPebbleCollector(db)
	if err := reg.Register(m.pebble); err != nil {
		return nil, err
	}
	m.reg = reg
	return m, nil
}

// unregister removes the collector that reads the store's database.
func (m *metrics) unregister() {
	if m.reg != nil && m.pebble != nil {
		m.reg.Unregister(m.pebble)
	}
}

// pebbleCollector exports Pebble's DB.Metrics() at scrape time.
type pebbleCollector struct {
	db *pebble.DB

	compactions, flushes, compactionDebt, readAmp, writeAmp *prometheus.Desc
	diskUsage, memtableSize, l0Files, l0Sublevels           *prometheus.Desc
	cacheSize, cacheHits, cacheMisses, liveTables           *prometheus.Desc
}

func newPebbleCollector(db *pebble.DB) *pebbleCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("gale_state_pebble_"+name, help, nil, nil)
	}
	return &pebbleCollector{
		db:             db,
		compactions:    d("compactions_total", "Compactions Pebble has run since open."),
		flushes:        d("flushes_total", "Memtable flushes since open."),
		compactionDebt: d("compaction_debt_bytes", "Estimated bytes to compact for the LSM to reach a stable state."),
		readAmp:        d("read_amplification", "Current read amplification (sublevels of L0 plus non-empty levels)."),
		writeAmp:       d("write_amplification", "Write amplification over all levels since open."),
		diskUsage:      d("disk_usage_bytes", "Disk space used by the store's files."),
		memtableSize:   d("memtable_bytes", "Bytes allocated by memtables."),
		l0Files:        d("l0_files", "Number of sstables in L0."),
		l0Sublevels:    d("l0_sublevels", "Number of L0 sublevels."),
		cacheSize:      d("block_cache_bytes", "Bytes held by the block cache."),
		cacheHits:      d("block_cache_hits_total", "Block cache hits."),
		cacheMisses:    d("block_cache_misses_total", "Block cache misses."),
		liveTables:     d("tables", "Number of live sstables."),
	}
}

func (c *pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.compactions, c.flushes, c.compactionDebt, c.readAmp, c.writeAmp,
		c.diskUsage, c.memtableSize, c.l0Files, c.l0Sublevels, c.cacheSize, c.cacheHits, c.cacheMisses, c.liveTables} {
		ch <- d
	}
}

func (c *pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	total := m.Total()
	var tables int64
	for i := range m.Levels {
		tables += m.Levels[i].TablesCount
	}
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(c.compactions, ctr, float64(m.Compact.Count))
	ch <- prometheus.MustNewConstMetric(c.flushes, ctr, float64(m.Flush.Count))
	ch <- prometheus.MustNewConstMetric(c.compactionDebt, g, float64(m.Compact.EstimatedDebt))
	ch <- prometheus.MustNewConstMetric(c.readAmp, g, float64(m.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(c.writeAmp, g, total.WriteAmp())
	ch <- prometheus.MustNewConstMetric(c.diskUsage, g, float64(m.DiskSpaceUsage()))
	ch <- prometheus.MustNewConstMetric(c.memtableSize, g, float64(m.MemTable.Size))
	ch <- prometheus.MustNewConstMetric(c.l0Files, g, float64(m.Levels[0].TablesCount))
	ch <- prometheus.MustNewConstMetric(c.l0Sublevels, g, float64(m.Levels[0].Sublevels))
	ch <- prometheus.MustNewConstMetric(c.cacheSize, g, float64(m.BlockCache.Size))
	ch <- prometheus.MustNewConstMetric(c.cacheHits, ctr, float64(m.BlockCache.Hits))
	ch <- prometheus.MustNewConstMetric(c.cacheMisses, ctr, float64(m.BlockCache.Misses))
	ch <- prometheus.MustNewConstMetric(c.liveTables, g, float64(tables))
}
