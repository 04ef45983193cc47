package kafkaspout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// partFetcher reads one owned partition on its own goroutine and hands
// batches of records to the spout task through ch. ch holds one batch, so a
// partition whose batches the task stops taking (because it reached
// MaxUncommitted, or because the topology is backpressured) stops fetching:
// that is the pause.
type partFetcher struct {
	tp topicPartition
	ch chan fetchBatch
	sh *partShared // the fetcher publishes high watermarks and its start

	cancel context.CancelFunc
	done   chan struct{}
}

// fetchBatch is what a fetch goroutine hands the task: records (possibly
// none, after a batch of transaction markers) and the position after them.
type fetchBatch struct {
	records []*Record
	next    int64
}

// partShared is what the task goroutine, the partition's fetch goroutine
// and the refresher goroutine share about a partition: positions published
// in atomics, from which the refresher sets the lag metrics every
// LagInterval, even while the runtime does not call Next (the topology is
// backpressured or at max pending), which is when lag matters most.
type partShared struct {
	tp topicPartition
	m  *partMetrics
	// hwm is the highest high watermark seen by a fetch or listed; -1
	// unknown.
	hwm atomic.Int64
	// start is the offset the current fetcher started at; -1 until resolved.
	start atomic.Int64
	// next is the next offset the task emits; -1 unknown (then start).
	next atomic.Int64
	// committed is the last offset committed by this task; -1 none.
	committed atomic.Int64
	// oldest is the timestamp (Unix ns) of the oldest record fetched and
	// not yet fully processed; 0 when there is none.
	oldest atomic.Int64
}

func newPartShared(tp topicPartition, m *partMetrics) *partShared {
	sh := &partShared{tp: tp, m: m}
	sh.hwm.Store(-1)
	sh.start.Store(-1)
	sh.next.Store(-1)
	sh.committed.Store(-1)
	return sh
}

// publishMetrics sets the partition's lag gauges from the shared positions.
func (sh *partShared) publishMetrics(now time.Time) {
	hwm, next, start := sh.hwm.Load(), sh.next.Load(), sh.start.Load()
	if next < 0 {
		next = start
	}
	if hwm < 0 || next < 0 {
		return
	}
	sh.m.lag.Set(float64(max(0, hwm-next)))
	committed := sh.committed.Load()
	if committed < 0 {
		committed = start
	}
	sh.m.committedLag.Set(float64(max(0, hwm-committed)))
	age := 0.0
	if o := sh.oldest.Load(); o != 0 {
		age = max(0, now.Sub(time.Unix(0, o)).Seconds())
	}
	sh.m.lagSeconds.Set(age)
}

// fetchLoop holds what a partition's fetch goroutine needs; it is read-only
// and shared by all of a spout's fetchers.
type fetchLoop struct {
	f          fetcher
	group      string
	start      StartPosition
	fallback   StartPosition
	minBackoff time.Duration
	maxBackoff time.Duration
	sec        *Security
	log        *slog.Logger
}

func newPartFetcher(sh *partShared) *partFetcher {
	return &partFetcher{tp: sh.tp, sh: sh, ch: make(chan fetchBatch, 1), done: make(chan struct{})}
}

// stop cancels the fetch goroutine and waits for it.
func (pf *partFetcher) stop() {
	pf.cancel()
	<-pf.done
}

// resolve returns the offset a partition starts at under position p.
func (l *fetchLoop) resolve(ctx context.Context, tp topicPartition, p StartPosition) (int64, string, error) {
	var at int64
	switch p.Kind {
	case StartCommitted:
		c, err := l.f.committed(ctx, l.group, []topicPartition{tp})
		if err != nil {
			return 0, "", fmt.Errorf("committed offset: %w", err)
		}
		if off, ok := c[tp]; ok {
			return off, "committed", nil
		}
		off, how, err := l.resolve(ctx, tp, l.fallback)
		return off, "no commit, " + how, err
	case StartEarliest:
		at = kafka.FirstOffset
	case StartLatest:
		at = kafka.LastOffset
	case StartAtTime:
		at = p.Time.UnixMilli()
	}
	offs, err := l.f.listOffsets(ctx, []topicPartition{tp}, at)
	if err != nil {
		return 0, "", fmt.Errorf("list offsets: %w", err)
	}
	off, ok := offs[tp]
	if !ok {
		return 0, "", errors.New("list offsets: partition missing from answer")
	}
	return off, p.String(), nil
}

// run is the partition's fetch goroutine. seek >= 0 starts there instead of
// at the start position. Errors are retried with exponential backoff,
// counted in m, and logged once per change between failing and healthy.
func (l *fetchLoop) run(ctx context.Context, pf *partFetcher, seek int64, m *partMetrics) {
	defer close(pf.done)
	log := l.log.With("partition", pf.tp.String())
	backoff := l.minBackoff
	failing := false
	fail := func(what string, err error) bool {
		m.fetchErrors.Inc()
		if !failing {
			failing = true
			log.Warn("kafka partition failing; retrying", "op", what, "err", l.sec.ExplainError(err))
		}
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(backoff*2, l.maxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	healthy := func() {
		backoff = l.minBackoff
		if failing {
			failing = false
			log.Info("kafka partition recovered")
		}
	}

	off := seek
	for off < 0 {
		o, how, err := l.resolve(ctx, pf.tp, l.start)
		if err != nil {
			if ctx.Err() != nil || !fail("resolve start", err) {
				return
			}
			continue
		}
		healthy()
		off = o
		log.Debug("kafka partition start", "offset", off, "from", how)
	}
	pf.sh.start.Store(off)

	for ctx.Err() == nil {
		res, err := l.f.fetch(ctx, pf.tp, off)
		if err == nil {
			err = res.err
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, kafka.OffsetOutOfRange) {
				// The position was deleted by retention (or is beyond the end
				// after a topic was recreated): continue at the fallback.
				o, how, rerr := l.resolve(ctx, pf.tp, l.fallback)
				if rerr == nil {
					m.fetchErrors.Inc()
					log.Warn("kafka offset out of range; resetting", "offset", off, "reset_to", o, "from", how)
					off = o
					continue
				}
				err = rerr
			}
			if !fail("fetch", err) {
				return
			}
			continue
		}
		healthy()
		storeMax(&pf.sh.hwm, res.hwm)
		if len(res.records) == 0 && res.next <= off {
			if res.hwm > off {
				// Records exist but none came back at or after off (say, a
				// batch whose tail was compacted away, whose last offset
				// kafka-go does not expose): the broker answers such a fetch
				// at once, so wait instead of spinning.
				t := time.NewTimer(l.minBackoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			continue
		}
		m.records.Add(float64(len(res.records)))
		m.bytes.Add(float64(res.bytes))
		select {
		case pf.ch <- fetchBatch{records: res.records, next: res.next}:
		case <-ctx.Done():
			return
		}
		off = res.next
	}
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
