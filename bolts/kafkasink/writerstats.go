package kafkasink

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// writerStats exports kafka-go's own Writer.Stats() at scrape time, summed
// over the sink tasks of each topology and component. Stats returns what
// happened since its previous call, so every scrape adds those deltas to
// running totals; a writer that closes hands its last deltas over first.
// Safe for concurrent use.
type writerStats struct {
	mu      sync.Mutex
	writers map[*kafka.Writer]writerKey
	totals  map[writerKey]*writerTotals

	writes, messages, bytes, errors, retries *prometheus.Desc
	writeSeconds, waitSeconds                *prometheus.Desc
}

type writerKey struct{ topology, component string }

type writerTotals struct {
	writes, messages, bytes, errors, retries float64
	// Sums of durations: kafka-go reports count, sum, min, max and avg per
	// interval; the sums add up into counters.
	writeSeconds, waitSeconds float64
}

func newWriterStats() *writerStats {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("gale_kafka_writer_"+name, help, []string{"topology", "component"}, nil)
	}
	return &writerStats{
		writers:      map[*kafka.Writer]writerKey{},
		totals:       map[writerKey]*writerTotals{},
		writes:       d("writes_total", "Write requests kafka-go's Writer made (Writer.Stats)."),
		messages:     d("messages_total", "Messages kafka-go's Writer wrote (Writer.Stats)."),
		bytes:        d("message_bytes_total", "Message bytes kafka-go's Writer wrote (Writer.Stats)."),
		errors:       d("errors_total", "Errors kafka-go's Writer met (Writer.Stats)."),
		retries:      d("retries_total", "Write retries kafka-go's Writer made (Writer.Stats)."),
		writeSeconds: d("write_seconds_total", "Time kafka-go's Writer spent writing batches (Writer.Stats)."),
		waitSeconds:  d("wait_seconds_total", "Time kafka-go's Writer spent waiting for a connection (Writer.Stats)."),
	}
}

// add starts exporting w's statistics.
func (s *writerStats) add(w *kafka.Writer, topology, component string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := writerKey{topology, component}
	s.writers[w] = k
	if s.totals[k] == nil {
		s.totals[k] = &writerTotals{}
	}
}

// remove takes w's last statistics and stops reading it; call it before
// closing w.
func (s *writerStats) remove(w *kafka.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.writers[w]; ok {
		s.totals[k].add(w.Stats())
		delete(s.writers, w)
	}
}

func (t *writerTotals) add(st kafka.WriterStats) {
	t.writes += float64(st.Writes)
	t.messages += float64(st.Messages)
	t.bytes += float64(st.Bytes)
	t.errors += float64(st.Errors)
	t.retries += float64(st.Retries)
	t.writeSeconds += st.WriteTime.Sum.Seconds()
	t.waitSeconds += st.WaitTime.Sum.Seconds()
}

func (s *writerStats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.writes, s.messages, s.bytes, s.errors, s.retries, s.writeSeconds, s.waitSeconds} {
		ch <- d
	}
}

func (s *writerStats) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w, k := range s.writers {
		s.totals[k].add(w.Stats())
	}
	for k, t := range s.totals {
		for _, m := range []struct {
			d *prometheus.Desc
			v float64
		}{
			{s.writes, t.writes}, {s.messages, t.messages}, {s.bytes, t.bytes}, {s.errors, t.errors},
			{s.retries, t.retries}, {s.writeSeconds, t.writeSeconds}, {s.waitSeconds, t.waitSeconds},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, m.v, k.topology, k.component)
		}
	}
}
