package testspout

import (
	"context"
	"fmt"
	"sync"

	"github.com/gale-stream/gale/topology"
)

// DefaultBatch is the most tuples a test spout emits per Next call.
const DefaultBatch = 64

// Option configures [FromSlice] and [FromChan].
type Option func(*options)

type options struct {
	fields   topology.Fields
	reliable bool
	split    bool
	retry    bool
	batch    int
	rec      *Recorder
}

// WithFields names the output fields. Default: a single field "value".
func WithFields(fields ...string) Option { return func(o *options) { o.fields = fields } }

// Reliable emits every tuple with a message id, so that at-least-once
// topologies track it (other guarantees ack nothing, so there it is ignored): its index in the slice for [FromSlice], a sequence
// number from 0 for [FromChan]. A failed tuple is emitted again with the
// same id, unless [NoRetry] is given.
func Reliable() Option { return func(o *options) { o.reliable = true } }

// NoRetry records failures without emitting the failed tuples again.
func NoRetry() Option { return func(o *options) { o.retry = false } }

// Split makes each task of a [FromSlice] spout emit only its share of the
// slice (index i goes to task i mod parallelism) instead of all of it.
func Split() Option { return func(o *options) { o.split = true } }

// Batch sets the most tuples emitted per Next call. Default: [DefaultBatch].
func Batch(n int) Option { return func(o *options) { o.batch = n } }

// WithRecorder makes every task report to rec.
func WithRecorder(rec *Recorder) Option { return func(o *options) { o.rec = rec } }

func newOptions(opts []Option) options {
	o := options{fields: topology.Fields{"value"}, retry: true, batch: DefaultBatch}
	for _, f := range opts {
		f(&o)
	}
	if o.batch < 1 {
		o.batch = 1
	}
	if o.rec == nil {
		o.rec = NewRecorder() // keeps the code paths alike; nobody reads it
	}
	return o
}

// base is what both spouts share: ids pending replay and the recorder.
type base struct {
	o      options
	index  int
	replay []int
	// pending: ids emitted reliably and not acked, with their values.
	pending map[int]topology.Values
}

func (b *base) DeclareOutputs(d *topology.Outputs) { d.Default(b.o.fields...) }

func (b *base) open(tc *topology.Context) {
	b.index = tc.Index
	// Only at-least-once topologies ack; elsewhere ids would wait forever.
	if g := tc.Config.Guarantee; g == topology.AtMostOnce || g == topology.ExactlyOnce {
		b.o.reliable = false
	}
	b.pending = make(map[int]topology.Values)
	b.o.rec.open(tc.Index, tc.Parallelism, b.o.reliable)
}

// emit sends values, tracked under id when reliable.
func (b *base) emit(out topology.SpoutEmitter, id int, v topology.Values) {
	if !b.o.reliable {
		b.o.rec.emit(b.index, id, false)
		out.Emit(v, nil)
		return
	}
	b.pending[id] = v
	b.o.rec.emit(b.index, id, true)
	out.Emit(v, id)
}

// replayUpTo re-emits failed tuples, at most n; it returns how many.
func (b *base) replayUpTo(out topology.SpoutEmitter, n int) int {
	sent := 0
	for sent < n && len(b.replay) > 0 {
		id := b.replay[0]
		b.replay = b.replay[1:]
		if v, ok := b.pending[id]; ok {
			b.emit(out, id, v)
			sent++
		}
	}
	return sent
}

// Ack records the ack and forgets the tuple.
func (b *base) Ack(msgID any) {
	id, ok := msgID.(int)
	if !ok {
		return
	}
	delete(b.pending, id)
	b.o.rec.ack(b.index, id)
}

// Fail records the failure and, with retries on, queues the tuple for
// replay; with retries off, it is forgotten.
func (b *base) Fail(msgID any) {
	id, ok := msgID.(int)
	if !ok {
		return
	}
	b.o.rec.fail(id)
	if _, ok := b.pending[id]; !ok {
		return
	}
	if b.o.retry {
		b.replay = append(b.replay, id)
		return
	}
	delete(b.pending, id)
	b.o.rec.giveUp(b.index, id)
}

func (b *base) Close() error { return nil }

// FromSlice returns a factory of spouts that emit values on the default
// stream: every task emits all of them, in order, or only its share with
// [Split]. The slice is shared by every task and must not change.
func FromSlice(values []topology.Values, opts ...Option) topology.SpoutFactory {
	o := newOptions(opts)
	return func() topology.Spout { return &sliceSpout{base: base{o: o}, values: values} }
}

type sliceSpout struct {
	base
	values []topology.Values
	next   int // next index to emit
	step   int
	done   bool
}

func (s *sliceSpout) Open(_ context.Context, tc *topology.Context) error {
	if tc.Parallelism > 1 && s.o.split {
		s.next, s.step = tc.Index, tc.Parallelism
	} else {
		s.next, s.step = 0, 1
	}
	s.open(tc)
	s.checkDone()
	return nil
}

func (s *sliceSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	n := s.replayUpTo(out, s.o.batch)
	for ; n < s.o.batch && s.next < len(s.values); n++ {
		s.emit(out, s.next, s.values[s.next])
		s.next += s.step
	}
	s.checkDone()
	return nil
}

func (s *sliceSpout) checkDone() {
	if !s.done && s.next >= len(s.values) {
		s.done = true
		s.o.rec.finish(s.index)
	}
}

// FromChan returns a factory of spouts that emit, on the default stream,
// the values a test sends on ch while the topology runs. Next never blocks:
// it takes what is ready, up to one batch. The tasks share ch, so each value
// goes to one of them. Once ch is closed and drained, the tasks are finished.
func FromChan(ch <-chan topology.Values, opts ...Option) topology.SpoutFactory {
	o := newOptions(opts)
	seq := new(idSeq)
	return func() topology.Spout { return &chanSpout{base: base{o: o}, ch: ch, seq: seq} }
}

// idSeq hands out message ids unique across the tasks of a FromChan spout.
type idSeq struct {
	mu  sync.Mutex
	nxt int
}

func (s *idSeq) take() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nxt
	s.nxt++
	return id
}

type chanSpout struct {
	base
	ch     <-chan topology.Values
	seq    *idSeq
	closed bool
}

func (s *chanSpout) Open(_ context.Context, tc *topology.Context) error {
	if s.ch == nil {
		return fmt.Errorf("testspout: %s task %d: nil channel", tc.Component, tc.Task)
	}
	s.open(tc)
	return nil
}

func (s *chanSpout) Next(_ context.Context, out topology.SpoutEmitter) error {
	n := s.replayUpTo(out, s.o.batch)
	for ; n < s.o.batch && !s.closed; n++ {
		select {
		case v, ok := <-s.ch:
			if !ok {
				s.closed = true
				s.o.rec.finish(s.index)
				return nil
			}
			s.emit(out, s.seq.take(), v)
		default:
			return nil
		}
	}
	return nil
}
