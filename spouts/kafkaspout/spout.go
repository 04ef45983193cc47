package kafkaspout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/gale-stream/gale/topology"
)

// MessageID is the message id of a tuple the spout emits with at-least-once
// delivery: the record it came from.
type MessageID struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Spout reads Kafka records and emits them as tuples. Create it with [New];
// the runtime calls its methods from the task's goroutine only.
type Spout struct {
	cfg Config

	// Set by Open, read-only afterwards.
	tc        *topology.Context
	log       *slog.Logger
	guarantee topology.Guarantee
	group     string
	transport *kafka.Transport
	f         fetcher
	loop      *fetchLoop
	m         *metrics
	dlq       *kafka.Writer
	ctx       context.Context // cancelled by Close; parent of the goroutines
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	now       func() time.Time

	// Owned by the task goroutine.
	parts      map[topicPartition]*partState
	order      []*partState // sorted by (topic, partition)
	rr         int          // round-robin start over order
	inflight   int          // at-least-once tuples emitted, not yet acked or failed
	retries    []retryItem
	restored   map[topicPartition]int64
	snapshots  []snapshotRec
	lastCommit time.Time
	commitFail bool
	closed     bool

	// shared is the current assignment, for the refresher goroutine.
	shared atomic.Pointer[[]*partShared]
	// refresh is what the refresher goroutine found, for the task goroutine.
	refresh struct {
		sync.Mutex
		dirty     atomic.Bool
		parts     []topicPartition
		partsNew  bool
		lastErr   error
		errLogged bool
	}
}

// partState is the task goroutine's view of one owned partition.
type partState struct {
	tp topicPartition
	pf *partFetcher
	tr offsetTracker
	// buf holds fetched records not yet emitted, in offset order; bufNext
	// is the position after the batch they came in.
	buf     []*Record
	bufNext int64
	// amoCommit is set while the batch in buf waits for its at-most-once
	// commit.
	amoCommit bool
	m         *partMetrics
	sh        *partShared
	// topic and partition are the tuple values of the partition, boxed once.
	topic, partition any
	// committed is the last offset this task committed; -1 before.
	committed int64
}

// publish makes the partition's position visible to the refresher.
func (ps *partState) publish() {
	next := ps.tr.next
	var oldest int64
	if e := ps.tr.oldest(); e != nil {
		oldest = e.rec.Time.UnixNano()
	}
	if len(ps.buf) > 0 {
		next = ps.buf[0].Offset
		if oldest == 0 {
			oldest = ps.buf[0].Time.UnixNano()
		}
	}
	if next >= 0 {
		ps.sh.next.Store(next)
	}
	ps.sh.oldest.Store(oldest)
}

type retryItem struct {
	tp  topicPartition
	off int64
	due time.Time
}

// New returns a factory of Kafka spouts configured by cfg, for
// [topology.Builder.SetSpout]. The configuration is validated in Open (and
// by [Config.Validate], which callers may use earlier).
func New(cfg Config) topology.SpoutFactory {
	return func() topology.Spout { return &Spout{cfg: cfg} }
}

// DeclareOutputs declares the default stream with [DefaultFields], or with
// [Config.OutputFields] when [Config.Map] is set.
func (s *Spout) DeclareOutputs(d *topology.Outputs) { d.Default(s.cfg.outputFields()...) }

// Open validates the configuration, connects to the brokers, computes the
// task's partitions and starts fetching them. It fails at once on a SASL
// authentication failure (an error marked [ErrAuthentication]) and after
// OpenTimeout when no broker answers.
func (s *Spout) Open(ctx context.Context, tc *topology.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("kafkaspout: topology %s component %s task %d: %w", tc.Topology, tc.Component, tc.Task, err)
	}
	s.cfg = s.cfg.withDefaults()
	s.tc = tc
	s.log = s.cfg.Logger
	if s.log == nil {
		s.log = tc.Logger
	}
	if s.log == nil {
		s.log = slog.Default().With("topology", tc.Topology, "component", string(tc.Component), "task", int(tc.Task))
	}
	s.guarantee = tc.Config.Guarantee
	if s.guarantee == 0 {
		s.guarantee = topology.AtLeastOnce
	}
	s.group = s.cfg.Group
	if s.group == "" {
		s.group = "gale-" + tc.Topology
	}
	if s.now == nil {
		s.now = time.Now
	}
	m, err := metricsFor(registererFor(s.cfg.Registerer, tc.Services))
	if err != nil {
		return fmt.Errorf("kafkaspout: register metrics: %w", err)
	}
	s.m = m
	if s.f == nil {
		tr, err := s.cfg.Security.Transport(fmt.Sprintf("gale-%s-%s-%d", tc.Topology, tc.Component, tc.Task), s.cfg.RequestTimeout)
		if err != nil {
			return fmt.Errorf("kafkaspout: topology %s component %s task %d: %w", tc.Topology, tc.Component, tc.Task, err)
		}
		s.transport = tr
		addr := kafka.TCP(s.cfg.Brokers...)
		s.f = &clientFetcher{
			cl: &kafka.Client{Addr: addr, Transport: tr}, rt: tr, addr: addr,
			maxBytes: s.cfg.FetchMaxBytes, maxWait: s.cfg.FetchMaxWait, timeout: s.cfg.RequestTimeout,
		}
		if s.cfg.ReadCommitted {
			s.f.(*clientFetcher).isolation = kafka.ReadCommitted
		}
	}
	if s.cfg.OnFailure == DeadLetter {
		s.dlq = &kafka.Writer{
			Addr: kafka.TCP(s.cfg.Brokers...), Topic: s.cfg.DeadLetterTopic, Transport: s.transport,
			RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, WriteTimeout: s.cfg.RequestTimeout,
		}
	}
	s.loop = &fetchLoop{
		f: s.f, group: s.group, start: s.cfg.Start, fallback: s.cfg.Fallback,
		minBackoff: s.cfg.RetryBackoff, maxBackoff: s.cfg.MaxRetryBackoff, sec: s.cfg.Security, log: s.log,
	}
	s.parts = make(map[topicPartition]*partState)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	parts, err := s.initialPartitions(ctx)
	if err != nil {
		s.shutdown()
		return fmt.Errorf("kafkaspout: topology %s component %s task %d: brokers %v: %w", tc.Topology, tc.Component, tc.Task, s.cfg.Brokers, err)
	}
	s.applyAssignment(parts)
	s.lastCommit = s.now()
	s.wg.Go(s.refresher)
	s.log.Info("kafka spout open", "group", s.group, "guarantee", s.guarantee.String(), "partitions", len(s.order))
	return nil
}

// initialPartitions lists the partitions, retrying until OpenTimeout, but
// failing at once on what looks like an authentication failure.
func (s *Spout) initialPartitions(ctx context.Context) ([]topicPartition, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpenTimeout)
	defer cancel()
	backoff := s.cfg.RetryBackoff
	var last error // the last error that says more than "time is up"
	for {
		parts, err := s.f.partitions(ctx, s.cfg.Topics, s.cfg.TopicPattern)
		if err == nil {
			return parts, nil
		}
		err = s.cfg.Security.ExplainError(err)
		if errors.Is(err, ErrAuthentication) {
			return nil, err
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list partitions: %w", last)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.cfg.MaxRetryBackoff)
	}
}

// applyAssignment starts fetching newly owned partitions and stops the
// ones another task owns now.
func (s *Spout) applyAssignment(all []topicPartition) {
	owned := assign(all, s.tc.Index, s.tc.Parallelism)
	keep := make(map[topicPartition]bool, len(owned))
	for _, tp := range owned {
		keep[tp] = true
	}
	for tp, ps := range s.parts {
		if keep[tp] {
			continue
		}
		if s.guarantee == topology.AtLeastOnce {
			// Hand over what is committable; the new owner starts there.
			if off, ok := ps.tr.commitPoint(); ok && off > ps.committed {
				_ = s.commitOffsets(map[topicPartition]int64{tp: off})
			}
			for _, e := range ps.tr.entries[ps.tr.head:] {
				if e.inflight {
					s.inflight--
				}
			}
		}
		ps.pf.stop()
		s.m.dropPartition(s.tc.Topology, tp)
		delete(s.parts, tp)
		s.log.Info("kafka partition released", "partition", tp.String())
	}
	for _, tp := range owned {
		if _, ok := s.parts[tp]; ok {
			continue
		}
		m := s.m.forPartition(s.tc.Topology, tp)
		ps := &partState{tp: tp, tr: newOffsetTracker(), committed: -1, bufNext: -1, m: m, sh: newPartShared(tp, m), topic: tp.Topic, partition: tp.Partition}
		seek := int64(-1)
		if off, ok := s.restored[tp]; ok {
			seek = off
		}
		s.startFetcher(ps, seek)
		s.parts[tp] = ps
		s.log.Info("kafka partition assigned", "partition", tp.String())
	}
	s.order = s.order[:0]
	for _, ps := range s.parts {
		s.order = append(s.order, ps)
	}
	slices.SortFunc(s.order, func(a, b *partState) int { return compareTP(a.tp, b.tp) })
	shared := make([]*partShared, len(s.order))
	for i, ps := range s.order {
		shared[i] = ps.sh
	}
	s.shared.Store(&shared)
}

func (s *Spout) startFetcher(ps *partState, seek int64) {
	pf := newPartFetcher(ps.sh)
	ctx, cancel := context.WithCancel(s.ctx)
	pf.cancel = cancel
	ps.sh.start.Store(-1)
	ps.sh.next.Store(-1)
	if seek >= 0 {
		ps.tr.reset(seek)
		ps.sh.start.Store(seek)
		ps.sh.next.Store(seek)
	}
	ps.pf = pf
	s.wg.Go(func() { s.loop.run(ctx, pf, seek, ps.m) })
}

// seek restarts the partition's fetching at off, dropping what was fetched
// and tracked.
func (s *Spout) seek(ps *partState, off int64) {
	ps.pf.stop()
	for _, e := range ps.tr.entries[ps.tr.head:] {
		if e.inflight {
			s.inflight--
		}
	}
	ps.buf, ps.bufNext, ps.amoCommit = nil, -1, false
	s.startFetcher(ps, off)
	ps.publish()
}

// refresher lists partitions every MetadataInterval and the owned
// partitions' high watermarks every LagInterval, for the task goroutine to
// pick up in Next.
func (s *Spout) refresher() {
	md := time.NewTicker(s.cfg.MetadataInterval)
	defer md.Stop()
	lag := time.NewTicker(s.cfg.LagInterval)
	defer lag.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-md.C:
			parts, err := s.f.partitions(s.ctx, s.cfg.Topics, s.cfg.TopicPattern)
			s.refresh.Lock()
			if err == nil {
				s.refresh.parts, s.refresh.partsNew = parts, true
			}
			s.noteRefreshLocked(err)
			s.refresh.Unlock()
		case <-lag.C:
			p := s.shared.Load()
			if p == nil || len(*p) == 0 {
				continue
			}
			tps := make([]topicPartition, len(*p))
			for i, sh := range *p {
				tps[i] = sh.tp
			}
			hwm, err := s.f.listOffsets(s.ctx, tps, kafka.LastOffset)
			now := time.Now()
			for _, sh := range *p {
				if h, ok := hwm[sh.tp]; ok {
					storeMax(&sh.hwm, h)
				}
				sh.publishMetrics(now)
			}
			s.refresh.Lock()
			s.noteRefreshLocked(err)
			s.refresh.Unlock()
			continue
		}
		s.refresh.dirty.Store(true)
	}
}

// noteRefreshLocked logs a refresh failure once per change of state.
func (s *Spout) noteRefreshLocked(err error) {
	if s.ctx.Err() != nil {
		return
	}
	if err != nil && !s.refresh.errLogged {
		s.log.Warn("kafka metadata refresh failing; retrying", "err", s.cfg.Security.ExplainError(err))
		s.refresh.errLogged = true
	} else if err == nil && s.refresh.errLogged {
		s.log.Info("kafka metadata refresh recovered")
		s.refresh.errLogged = false
	}
}

// applyRefresh takes what the refresher found.
func (s *Spout) applyRefresh() {
	if !s.refresh.dirty.Swap(false) {
		return
	}
	s.refresh.Lock()
	parts, partsNew := s.refresh.parts, s.refresh.partsNew
	s.refresh.partsNew = false
	s.refresh.Unlock()
	if partsNew {
		s.applyAssignment(parts)
	}
}

// Next emits the records that are due: replays of failed records first,
// then fetched records, round-robin over the partitions, at most
// MaxEmitPerNext (and, with at-least-once, at most MaxSpoutPending minus
// the tuples in flight). A partition with MaxUncommitted records pending is
// skipped, which pauses its fetching. Next also commits every
// CommitInterval (at-least-once) and refreshes the metrics. It never blocks
// on the brokers except to commit.
func (s *Spout) Next(ctx context.Context, out topology.SpoutEmitter) error {
	if s.closed {
		return ErrClosed
	}
	now := s.now()
	s.applyRefresh()
	budget := s.cfg.MaxEmitPerNext
	if s.guarantee == topology.AtLeastOnce && s.tc.Config.MaxSpoutPending > 0 {
		budget = min(budget, s.tc.Config.MaxSpoutPending-s.inflight)
	}
	if budget > 0 && len(s.retries) > 0 {
		budget -= s.emitRetries(out, now, budget)
	}
	n := len(s.order)
	for i := 0; i < n && budget > 0; i++ {
		ps := s.order[(s.rr+i)%n]
		budget -= s.emitFrom(ctx, ps, out, budget)
	}
	if n > 0 {
		s.rr = (s.rr + 1) % n
	}
	if s.guarantee == topology.AtLeastOnce && now.Sub(s.lastCommit) >= s.cfg.CommitInterval {
		s.lastCommit = now
		s.commitAcked()
	}
	return nil
}

// emitFrom emits up to budget records of ps and returns how many.
func (s *Spout) emitFrom(ctx context.Context, ps *partState, out topology.SpoutEmitter, budget int) int {
	atLeastOnce := s.guarantee == topology.AtLeastOnce
	if atLeastOnce {
		budget = min(budget, s.cfg.MaxUncommitted-ps.tr.pending())
	}
	if budget <= 0 {
		return 0
	}
	if len(ps.buf) == 0 && !ps.amoCommit {
		select {
		case b := <-ps.pf.ch:
			ps.buf, ps.bufNext = b.records, b.next
			ps.amoCommit = s.guarantee == topology.AtMostOnce
		default:
			return 0
		}
	}
	if ps.amoCommit {
		// At-most-once: commit past the batch before emitting any of it, so
		// a crash can lose records but never repeat them. After a failed
		// commit the batch waits, and the commit is tried again.
		if err := s.commitOffsets(map[topicPartition]int64{ps.tp: ps.bufNext}); err != nil {
			return 0
		}
		ps.setCommitted(ps.bufNext)
		ps.amoCommit = false
	}
	n := 0
	for n < budget && len(ps.buf) > 0 {
		rec := ps.buf[0]
		ps.buf[0] = nil
		ps.buf = ps.buf[1:]
		if atLeastOnce {
			e, ok := ps.tr.add(rec)
			if !ok {
				continue
			}
			if s.emitEntry(out, ps, e) {
				n++
			}
			continue
		}
		ps.tr.next = rec.Offset + 1
		vals, err := s.values(ps, rec)
		if err != nil {
			// Without acking there is no replay: report and skip.
			ps.m.skipped.Inc()
			out.ReportError(fmt.Errorf("kafkaspout: %s offset %d skipped: %w", ps.tp, rec.Offset, err))
			continue
		}
		out.Emit(vals, nil)
		n++
	}
	if len(ps.buf) == 0 {
		ps.buf = nil
		ps.tr.advance(ps.bufNext)
	}
	ps.publish()
	return n
}

// emitEntry emits a tracked record and reports whether it did; a record
// that cannot be converted counts as failed.
func (s *Spout) emitEntry(out topology.SpoutEmitter, ps *partState, e *entry) bool {
	vals, err := s.values(ps, e.rec)
	if err != nil {
		out.ReportError(fmt.Errorf("kafkaspout: %s offset %d: %w", ps.tp, e.rec.Offset, err))
		e.inflight = false
		s.failed(ps, e)
		return false
	}
	e.inflight = true
	s.inflight++
	out.Emit(vals, MessageID{Topic: ps.tp.Topic, Partition: ps.tp.Partition, Offset: e.rec.Offset})
	return true
}

// values converts a record of ps to tuple values.
func (s *Spout) values(ps *partState, r *Record) (topology.Values, error) {
	if s.cfg.Map != nil {
		return s.cfg.Map(r)
	}
	key, err := s.cfg.KeyDecoder(r.Key)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	val, err := s.cfg.ValueDecoder(r.Value)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	var hs map[string][]byte
	if len(r.Headers) > 0 {
		hs = make(map[string][]byte, len(r.Headers))
		for _, h := range r.Headers {
			hs[h.Key] = h.Value
		}
	}
	var headers any
	if hs != nil {
		headers = hs
	}
	return topology.Values{key, val, ps.topic, ps.partition, r.Offset, r.Time.UnixMilli(), headers}, nil
}

// emitRetries re-emits failed records whose backoff has passed.
func (s *Spout) emitRetries(out topology.SpoutEmitter, now time.Time, budget int) int {
	n := 0
	due := s.retries
	s.retries = nil // emitEntry may schedule new retries
	for _, it := range due {
		if n >= budget || it.due.After(now) {
			s.retries = append(s.retries, it)
			continue
		}
		ps := s.parts[it.tp]
		if ps == nil {
			continue
		}
		e := ps.tr.get(it.off)
		if e == nil || e.acked || e.inflight {
			continue
		}
		ps.m.retries.Inc()
		if s.emitEntry(out, ps, e) {
			n++
		}
	}
	return n
}

// Ack marks the record of msgID as fully processed.
func (s *Spout) Ack(msgID any) {
	id, ok := msgID.(MessageID)
	if !ok {
		return
	}
	ps := s.parts[topicPartition{id.Topic, id.Partition}]
	if ps == nil {
		return // released to another task meanwhile
	}
	e := ps.tr.get(id.Offset)
	if e == nil || !e.inflight {
		return
	}
	s.inflight--
	wasOldest := ps.tr.oldest() == e
	if ps.tr.ack(id.Offset) && wasOldest {
		ps.publish()
	}
}

// Fail schedules the record of msgID for a replay after a backoff, or
// applies OnFailure once it failed more than MaxRetries times.
func (s *Spout) Fail(msgID any) {
	id, ok := msgID.(MessageID)
	if !ok {
		return
	}
	ps := s.parts[topicPartition{id.Topic, id.Partition}]
	if ps == nil {
		return
	}
	e := ps.tr.get(id.Offset)
	if e == nil || !e.inflight {
		return
	}
	s.inflight--
	e.inflight = false
	s.failed(ps, e)
	ps.publish()
}

// failed handles a failure of a tracked, not in-flight record.
func (s *Spout) failed(ps *partState, e *entry) {
	e.attempts++
	if s.cfg.OnFailure != RetryForever && e.attempts > s.cfg.MaxRetries {
		if s.giveUp(ps, e) {
			return
		}
	}
	shift := min(e.attempts-1, 30)
	d := s.cfg.RetryBackoff << shift
	if d <= 0 || d > s.cfg.MaxRetryBackoff {
		d = s.cfg.MaxRetryBackoff
	}
	s.retries = append(s.retries, retryItem{tp: ps.tp, off: e.rec.Offset, due: s.now().Add(d)})
}

// giveUp applies OnFailure to a record that kept failing and reports whether
// the record is done.
func (s *Spout) giveUp(ps *partState, e *entry) bool {
	switch s.cfg.OnFailure {
	case Skip:
		ps.m.skipped.Inc()
		s.log.Warn("kafka record skipped after repeated failures", "partition", ps.tp.String(), "offset", e.rec.Offset, "attempts", e.attempts)
	case DeadLetter:
		r := e.rec
		msg := kafka.Message{Key: r.Key, Value: r.Value, Time: r.Time}
		for _, h := range r.Headers {
			msg.Headers = append(msg.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msg.Headers = append(msg.Headers,
			kafka.Header{Key: "gale-source-topic", Value: []byte(r.Topic)},
			kafka.Header{Key: "gale-source-partition", Value: fmt.Appendf(nil, "%d", r.Partition)},
			kafka.Header{Key: "gale-source-offset", Value: fmt.Appendf(nil, "%d", r.Offset)},
			kafka.Header{Key: "gale-attempts", Value: fmt.Appendf(nil, "%d", e.attempts)},
		)
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
		err := s.dlq.WriteMessages(ctx, msg)
		cancel()
		if err != nil {
			s.log.Warn("kafka dead-letter write failed; will retry the record", "partition", ps.tp.String(), "offset", r.Offset, "topic_dlq", s.cfg.DeadLetterTopic, "err", s.cfg.Security.ExplainError(err))
			return false
		}
		ps.m.deadLettered.Inc()
		s.log.Warn("kafka record sent to dead-letter topic", "partition", ps.tp.String(), "offset", r.Offset, "attempts", e.attempts, "topic_dlq", s.cfg.DeadLetterTopic)
	default:
		return false
	}
	ps.tr.ack(e.rec.Offset)
	return true
}

// commitAcked commits every partition's commit point that moved.
func (s *Spout) commitAcked() {
	offs := make(map[topicPartition]int64)
	for _, ps := range s.order {
		if off, ok := ps.tr.commitPoint(); ok && off > ps.committed {
			offs[ps.tp] = off
		}
	}
	if len(offs) == 0 {
		return
	}
	if s.commitOffsets(offs) == nil {
		for tp, off := range offs {
			s.parts[tp].setCommitted(off)
		}
	}
}

func (ps *partState) setCommitted(off int64) {
	ps.committed = off
	ps.sh.committed.Store(off)
}

// commitOffsets commits offs to the group, timing it and logging failures
// once per change of state.
func (s *Spout) commitOffsets(offs map[topicPartition]int64) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	err := s.f.commit(ctx, s.group, offs)
	cancel()
	if err != nil {
		s.m.commitErrors.WithLabelValues(s.tc.Topology).Inc()
		if !s.commitFail {
			s.commitFail = true
			s.log.Warn("kafka offset commit failing; retrying", "group", s.group, "err", s.cfg.Security.ExplainError(err))
		}
		return err
	}
	s.m.commitDur.WithLabelValues(s.tc.Topology).Observe(time.Since(start).Seconds())
	if s.commitFail {
		s.commitFail = false
		s.log.Info("kafka offset commit recovered", "group", s.group)
	}
	return nil
}

// Close commits what is committable (at-least-once), stops every fetch
// goroutine and closes the connections. It may be called more than once.
func (s *Spout) Close() error {
	if s.closed || s.cancel == nil {
		s.closed = true
		return nil
	}
	s.closed = true
	if s.guarantee == topology.AtLeastOnce {
		s.commitAcked()
	}
	s.shutdown()
	s.log.Info("kafka spout closed")
	return nil
}

func (s *Spout) shutdown() {
	s.cancel()
	s.wg.Wait()
	if s.dlq != nil {
		_ = s.dlq.Close()
	}
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
}
